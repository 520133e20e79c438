//! TLS for IMAP and SMTP: the public web roots plus the operator's extra CA file, rustls with ring
//! like the rest of the binary.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use switchboard_core::ChannelError;
use tokio_rustls::rustls;

/// The DER certificates in a PEM file; an unreadable or empty file is a configuration error.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ChannelError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ChannelError::Config(format!("ca_file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ChannelError::Config(format!(
            "ca_file {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

pub fn connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, ChannelError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| ChannelError::Config(format!("ca_file {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ChannelError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
