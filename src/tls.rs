//! Certificates for the listeners — STARTTLS on SMTP (RFC 3207) and HTTPS
//! on the portal: the certificate and key come from PEM files named in the
//! configuration and are read again whenever either file changes, so a
//! renewed certificate is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

/// The certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Pem { path: PathBuf, why: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate files and the acceptor built from them, rebuilt when the
/// files change. Every listener that speaks TLS holds one.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

struct Loaded {
    stamps: (SystemTime, SystemTime),
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("stamps", &self.stamps)
            .finish()
    }
}

impl Certificates {
    /// Loads `cert` (a PEM chain) and `key` (a PEM private key) once, so a
    /// bad file is an error at start-up, not at the first handshake.
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<Certificates>, TlsError> {
        let c = Certificates {
            cert: cert.to_owned(),
            key: key.to_owned(),
            loaded: Mutex::new(None),
        };
        c.acceptor()?;
        Ok(Arc::new(c))
    }

    /// The acceptor for the files as they are now: rebuilt when either
    /// file's modification time changed; a file that cannot be read now
    /// keeps the last good one serving.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let stamps = (modified(&self.cert)?, modified(&self.key)?);
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = loaded.as_ref()
            && l.stamps == stamps
        {
            return Ok(l.acceptor.clone());
        }
        match build(&self.cert, &self.key) {
            Ok(acceptor) => {
                *loaded = Some(Loaded {
                    stamps,
                    acceptor: acceptor.clone(),
                });
                Ok(acceptor)
            }
            Err(e) => match loaded.as_ref() {
                Some(l) => {
                    tracing::warn!(error = %e, cert = %self.cert.display(), "new certificate unusable; serving the previous one");
                    Ok(l.acceptor.clone())
                }
                None => Err(e),
            },
        }
    }
}

fn modified(path: &Path) -> Result<SystemTime, TlsError> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
}

fn build(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let pem = |path: &Path, why: String| TlsError::Pem {
        path: path.to_owned(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem(cert, "no certificate in the file".to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
