//! TLS server settings (rustls with the ring provider) from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

/// Why the TLS settings could not be loaded.
#[derive(Debug, Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("TLS certificate {path}: {detail}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("TLS private key {path}: {detail}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// rustls refused the certificate and key (for example, they do not belong together).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the acceptor for `cert` (a PEM chain, leaf first) and `key` (PEM PKCS#8, PKCS#1 or
/// SEC1). The server offers HTTP/1.1 over ALPN.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_path_buf(),
            detail: "no CERTIFICATE block".to_owned(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_mismatched_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        assert!(matches!(
            acceptor(&cert_path, &key_path),
            Err(TlsError::Certificate { .. })
        ));
        let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&cert_path, a.cert.pem()).unwrap();
        std::fs::write(&key_path, "not a key").unwrap();
        assert!(matches!(
            acceptor(&cert_path, &key_path),
            Err(TlsError::Key { .. })
        ));
        std::fs::write(&key_path, b.key_pair.serialize_pem()).unwrap();
        assert!(matches!(
            acceptor(&cert_path, &key_path),
            Err(TlsError::Config(_))
        ));
        std::fs::write(&key_path, a.key_pair.serialize_pem()).unwrap();
        assert!(acceptor(&cert_path, &key_path).is_ok());
    }
}
