//! A throwaway certificate authority for the TLS suites: server certificates for `localhost`
//! and `127.0.0.1`, signed by a CA the test's clients (and the data API) are told to trust.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::Path;

/// A private CA, as a cluster's cert-manager issuer would be.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Names of their own: a leaf whose subject equals its issuer's looks self-issued, and
        // OpenSSL (Redis, PostgreSQL) then refuses it as a client certificate.
        params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate (PEM), to trust.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A new server certificate for `localhost` and `127.0.0.1` with a fresh key, written as
    /// PEM to `cert` and `key`; returns the certificate's DER, to recognise it on the wire.
    pub fn write_server_pair(&self, cert: &Path, key: &Path) -> Vec<u8> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_key = KeyPair::generate().expect("server key");
        let certificate = params
            .signed_by(&server_key, &self.issuer)
            .expect("server certificate");
        // The key first: a reload that reads between the writes sees a mismatched pair, which
        // the server must refuse, rather than a matching old one.
        std::fs::write(key, server_key.serialize_pem()).expect("write key");
        std::fs::write(cert, certificate.pem()).expect("write certificate");
        certificate.der().to_vec()
    }
}

impl TestCa {
    /// A new client certificate (TLS client authentication) named `name`, written as PEM to
    /// `cert` and `key`: what a service shows a server that requires mutual TLS.
    pub fn write_client_pair(&self, name: &str, cert: &Path, key: &Path) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("client params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.distinguished_name.push(DnType::CommonName, name);
        let client_key = KeyPair::generate().expect("client key");
        let certificate = params
            .signed_by(&client_key, &self.issuer)
            .expect("client certificate");
        std::fs::write(key, client_key.serialize_pem()).expect("write key");
        std::fs::write(cert, certificate.pem()).expect("write certificate");
    }

    /// Writes the CA certificate to `path`, for a setting that names a PEM bundle.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.pem()).expect("write CA certificate");
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
