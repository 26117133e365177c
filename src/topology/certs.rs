//! Certificates made for one run's embedded TLS servers with rcgen: a CA
//! and one server certificate for 127.0.0.1 and localhost, kept in memory
//! and written only into the servers' own temp dirs. Never shown: `Debug`
//! hides the key.

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct RunCertificates {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for RunCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunCertificates(CA and server certificate for 127.0.0.1)")
    }
}

impl RunCertificates {
    /// # Errors
    /// When rcgen fails (it does not for these fixed parameters).
    pub fn generate() -> anyhow::Result<RunCertificates> {
        let ca_key = KeyPair::generate().context("generating the run's CA key")?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "seckill-bench run CA");
        let ca_cert = ca.self_signed(&ca_key).context("signing the run's CA")?;
        let key = KeyPair::generate().context("generating the servers' key")?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "seckill-bench embedded redis-server");
        let cert = server
            .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
            .context("signing the servers' certificate")?;
        Ok(RunCertificates {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `ca.crt`, `server.crt` and `server.key` (owner-only) into
    /// `dir` and returns redis-server's TLS arguments for them.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn server_args(&self, dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
        let mut args = Vec::new();
        for (name, pem, flag) in [
            ("ca.crt", &self.ca_pem, "--tls-ca-cert-file"),
            ("server.crt", &self.cert_pem, "--tls-cert-file"),
            ("server.key", &self.key_pem, "--tls-key-file"),
        ] {
            let path = dir.join(name);
            crate::util::fs::write_private(&path, pem.as_bytes())?;
            args.push(flag.to_owned());
            args.push(path.display().to_string());
        }
        args.extend(["--tls-auth-clients", "no", "--tls-replication", "yes"].map(String::from));
        Ok(args)
    }

    /// For clients: trust the run's CA.
    pub fn client_files(&self) -> crate::conn::TlsFiles {
        crate::conn::TlsFiles {
            ca: Some(self.ca_pem.clone()),
            cert: None,
            key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_pem_and_never_shown() {
        let certs = RunCertificates::generate().unwrap();
        assert!(certs.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(certs.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{certs:?}").contains("PRIVATE"));
    }
}
