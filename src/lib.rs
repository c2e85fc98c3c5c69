//! `nexudus-mock`: a fake backend, a contract runner and a fuzzer for the
//! CoworkerSettings endpoints of the Nexudus Spaces REST API.
//!
//! # Layout
//!
//! - [`resource`]: the record, its JSON, create/update validation, messages and envelopes
//!   (everything resource-specific).
//! - [`query`]: list parameters, and the one definition of filter matching and sort order.
//! - [`store`]: the in-memory store (records, the unique `(CoworkerId, Name)` index, ids, lists).
//! - [`text_index`]: the trigram index that serves the substring filters at any store size.
//! - [`auth`]: users, tokens, roles.
//! - [`fixtures`]: built-in and on-disk fixtures, checked at start-up.
//! - [`schemas`]: the JSON Schemas in `schemas/`, compiled once.
//! - [`server`]: hyper glue (the only module that touches hyper) and the API handlers.
//! - [`contract`]: the contract runner behind `check`: the session, the surface probe of
//!   optional endpoints, response properties (`props`), and one file per check group.
//! - [`fuzz`]: the proptest fuzzer behind `fuzz`: strategies, reference model, shrink and replay.
//! - [`proxy`]: the validating proxy behind `proxy`: forwarding, validation of each
//!   exchange, recording fixtures, the violations store.
//! - [`report`]: results of `check`/`fuzz` and their human, JUnit and JSON forms.
//! - [`client`]: the HTTP client the runner, the fuzzer and the tests share, and
//!   `ClientConfig` (base URL, TLS trust, proxy, extra headers, timeout).
//! - [`tls`]: rustls (ring) for both sides: trust roots, `serve` certificates, the
//!   `--tls-self-signed` CA, certificate problems in words.
//! - [`cli`]: command-line flags.
//! - [`persist`]: the `--state-file`: a snapshot plus a journal of writes, group-committed and compacted.
//! - [`openapi`]: the OpenAPI 3.1 document built from `schemas/`.
//! - [`watch`]: hot reload of `--fixtures DIR --watch`.
//! - [`logging`]: the request log (readable coloured lines or JSON), batched off the request path.
//! - `server::{frontend, faults, journal, admin}`: latency and fault injection, the
//!   request journal and the `/__admin` API.

pub mod auth;
pub mod cli;
pub mod client;
pub mod contract;
pub mod fixtures;
pub mod fuzz;
pub mod logging;
pub mod openapi;
pub mod persist;
pub mod proxy;
pub mod query;
pub mod report;
pub mod resource;
pub mod schemas;
pub mod server;
pub mod store;
pub mod text_index;
pub mod tls;
pub mod watch;
