//! TLS for both directions, on rustls with the ring provider (it builds on a fresh
//! machine with no C toolchain extras, unlike aws-lc-rs): the client's trust roots
//! (platform store, bundled web roots, `--cacert`), the server's certificate and key
//! from PEM files, the throwaway CA behind `serve --tls-self-signed`, and the
//! translation of a certificate rejection into words and the flag that helps.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (expected PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("the certificate and key do not go together: {0}")]
    Mismatch(String),
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("TLS set-up failed: {0}")]
    Setup(String),
}

/// The one crypto provider used everywhere.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read {
            path: path.to_path_buf(),
            reason: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsError::NoKey {
        path: path.to_path_buf(),
    })
}

/// The platform's trust store plus the bundled web roots, loaded once per process
/// (reading the platform store parses a few hundred files).
fn default_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // A missing or partly unreadable platform store leaves the bundled roots,
        // which is what a container without ca-certificates should get.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        roots
    })
}

/// The client side: verify against the default roots plus `extra_roots`, or not at
/// all when `insecure`. HTTP/1.1 only, like the rest of the crate.
pub fn client_config(
    extra_roots: &[CertificateDer<'static>],
    insecure: bool,
) -> Result<rustls::ClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = default_roots().clone();
        for cert in extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| TlsError::Setup(format!("a --cacert certificate is unusable: {e}")))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `--insecure`: any certificate is accepted, but the handshake signatures are still
/// checked so the connection is at least encrypted to whoever answered.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The server side: a certificate chain and its key. HTTP/1.1 only.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `serve --tls-cert FILE --tls-key FILE`.
pub fn server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config(read_certs(cert)?, read_key(key)?)
}

/// A certificate for the mock, signed by a CA made for this start-up only. Clients
/// trust the CA (`ca_pem`); its key is dropped at once, so it can sign nothing else.
/// A CA plus a leaf, rather than one self-signed leaf, is what every client accepts
/// (browsers, curl, Node and rustls all refuse a leaf used as its own trust anchor
/// in some configuration).
pub struct SelfSigned {
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Makes a [`SelfSigned`] certificate for `names` (DNS names or IP addresses),
/// valid from yesterday for a year.
pub fn self_signed(names: &[String]) -> Result<SelfSigned, TlsError> {
    use chrono::Datelike;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let day = |d: chrono::DateTime<chrono::Utc>| {
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    let now = chrono::Utc::now();
    let not_before = day(now - chrono::Duration::days(1));
    let not_after = day(now + chrono::Duration::days(365));

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        "nexudus-mock local CA (this start-up only)",
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(generate)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(generate)?;

    let mut leaf = CertificateParams::new(names.to_vec()).map_err(generate)?;
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, names.first().map_or("localhost", |n| n));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_key = KeyPair::generate().map_err(generate)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(generate)?;

    Ok(SelfSigned {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf_cert.der().clone(), ca_cert.der().clone()],
        key: PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| TlsError::Generate(e.to_string()))?,
    })
}

/// What is wrong with the server's certificate, from the client's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    Expired,
    NotYetValid,
    WrongHost,
    UnknownIssuer,
    Other(String),
}

impl CertProblem {
    /// The problem in words, and the flag that gets past it.
    pub fn explain(&self) -> String {
        match self {
            CertProblem::Expired => "the server's certificate has expired; renew it, or pass --insecure to test anyway".into(),
            CertProblem::NotYetValid => "the server's certificate is not valid yet (check the clocks); pass --insecure to test anyway".into(),
            CertProblem::WrongHost => "the server's certificate is for another host name (wrong host); use a URL with a name the certificate lists, or pass --insecure".into(),
            CertProblem::UnknownIssuer => "the server's certificate was issued by an unknown issuer (a private or self-signed CA); pass --cacert FILE with that CA in PEM, or --insecure to skip verification".into(),
            CertProblem::Other(why) => format!("the server's certificate was refused ({why}); pass --cacert FILE with its CA, or --insecure to skip verification"),
        }
    }
}

/// The certificate problem somewhere in an error's chain, if that is what failed.
pub fn cert_problem(err: &(dyn std::error::Error + 'static)) -> Option<CertProblem> {
    if let Some(rustls::Error::InvalidCertificate(c)) = find_rustls(err) {
        return Some(classify(c));
    }
    None
}

/// The rustls error inside `err`. The TLS layers wrap it in one `io::Error` after
/// another, and `io::Error::source` skips the error it wraps, so each one is
/// opened by hand.
fn find_rustls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = err.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && let Some(r) = find_rustls(inner)
    {
        return Some(r);
    }
    err.source().and_then(find_rustls)
}

fn classify(c: &CertificateError) -> CertProblem {
    match c {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertProblem::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertProblem::NotYetValid
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertProblem::WrongHost
        }
        CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
        other => CertProblem::Other(format!("{other:?}")),
    }
}
