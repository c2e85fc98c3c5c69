//! The one integration-test binary. Every test starts its own server on
//! 127.0.0.1:0 and talks to it over real TCP.
//!
//! - `check`: the contract runner against the mock and against broken implementations.
//! - `fuzz`: the fuzzer against the mock and against broken implementations; shrink and replay.
//! - `verdict`: conformant-but-different and broken implementations (tables), for check and fuzz.
//! - `tls`: HTTPS targets and `serve` over TLS, path prefixes, gateway headers,
//!   proxies, and `--user` through the token grant.
//! - `util`: start a server, send requests, check bodies against schemas.
//! - `hostile`: raw-TCP hostile input, limits, mixed load, secrets in logs.
//! - `mock`: the mock's endpoints, validation, lists, auth, CORS, model and concurrency tests.
//! - `frontend`: latency, faults, `Prefer`, the admin API and journal, the state file
//!   (kill -9), hot reload, OpenAPI, logs, and headless Chromium from another origin.
//! - `proxy`: the validating proxy in front of the mock and of broken implementations,
//!   recording and replay, failing upstreams, and headless Chromium through it.

mod check;
mod frontend;
mod fuzz;
mod hostile;
mod mock;
mod proxy;
mod tls;
mod util;
mod verdict;
