//! Certificates made by the `openssl` command-line tool: a second, independent producer next to
//! rcgen (through `devpki`), and the reference for RFC 2253 subjects.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The subject as `openssl x509 -noout -subject -nameopt RFC2253` prints it.
pub fn subject_of(dir: &Path, certificate: &Path) -> String {
    let out = openssl(
        dir,
        &[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-in",
            certificate.to_str().unwrap(),
        ],
    );
    out.trim()
        .strip_prefix("subject=")
        .unwrap_or(out.trim())
        .to_owned()
}

/// A CA made by openssl in `dir`: `ca.pem`, `ca.key`.
pub struct OpensslCa {
    pub dir: PathBuf,
}

impl OpensslCa {
    pub fn new(dir: &Path) -> OpensslCa {
        std::fs::create_dir_all(dir).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/O=openssl/CN=openssl test CA",
            ],
        );
        OpensslCa {
            dir: dir.to_owned(),
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Signs `NAME.csr` into `NAME.crt` with `extensions` (an openssl extension section text).
    fn sign(&self, name: &str, extensions: &str) {
        let ext_file = self.dir.join(format!("{name}.ext"));
        std::fs::write(&ext_file, extensions).unwrap();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.crt"),
                "-extfile",
                ext_file.to_str().unwrap(),
            ],
        );
    }

    /// A server certificate for `localhost` and 127.0.0.1: (`server.crt`, `server.key`).
    pub fn server(&self) -> (PathBuf, PathBuf) {
        self.server_for("server", "DNS:localhost,IP:127.0.0.1")
    }

    /// A server certificate `NAME.crt` (key `NAME.key`) for the subject alternative names
    /// `names` (openssl's `DNS:a,IP:b` form).
    pub fn server_for(&self, name: &str, names: &str) -> (PathBuf, PathBuf) {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        self.sign(
            name,
            &format!("subjectAltName={names}\nextendedKeyUsage=serverAuth\n"),
        );
        (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        )
    }

    /// A certificate revocation list of this CA, `NAME.crl`, listing `revoked` (certificate
    /// files it issued), made with `openssl ca` and its own small database.
    pub fn revocation_list(&self, name: &str, revoked: &[&Path]) -> PathBuf {
        self.revocation_list_with(name, revoked, &[])
    }

    /// A list of this CA that revokes nothing and whose nextUpdate passed years ago.
    pub fn expired_revocation_list(&self, name: &str) -> PathBuf {
        let dates = [
            "-crl_lastupdate",
            "20200101000000Z",
            "-crl_nextupdate",
            "20200102000000Z",
        ];
        self.revocation_list_with(name, &[], &dates)
    }

    /// [`revocation_list`](Self::revocation_list), with more arguments for `openssl ca -gencrl`.
    fn revocation_list_with(&self, name: &str, revoked: &[&Path], gencrl: &[&str]) -> PathBuf {
        let db = self.dir.join(format!("{name}-db"));
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("index.txt"), "").unwrap();
        std::fs::write(db.join("crlnumber"), "01\n").unwrap();
        let config = db.join("ca.cnf");
        std::fs::write(
            &config,
            format!(
                "[ca]\ndefault_ca = test\n[test]\ndatabase = {db}/index.txt\n\
                 crlnumber = {db}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n\
                 certificate = {dir}/ca.pem\nprivate_key = {dir}/ca.key\n",
                db = db.display(),
                dir = self.dir.display()
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap();
        for certificate in revoked {
            openssl(
                &self.dir,
                &[
                    "ca",
                    "-config",
                    config,
                    "-revoke",
                    certificate.to_str().unwrap(),
                ],
            );
        }
        let out = format!("{name}.crl");
        let mut arguments = vec!["ca", "-config", config, "-gencrl", "-out", &out];
        arguments.extend_from_slice(gencrl);
        openssl(&self.dir, &arguments);
        self.dir.join(out)
    }

    /// A client certificate for `subject` (openssl's `/A=B/C=D` form) whose key is of `kind`:
    /// `pkcs8`, `rsa-pkcs1`, `ec-sec1`, or `encrypted` (PKCS#8 with AES-256-CBC under
    /// `password`). Returns the file holding the certificate and the key.
    pub fn client(&self, name: &str, subject: &str, kind: &str, password: &str) -> PathBuf {
        let key = format!("{name}.key");
        match kind {
            "rsa-pkcs1" => {
                openssl(&self.dir, &["genrsa", "-traditional", "-out", &key, "2048"]);
            }
            _ => {
                openssl(
                    &self.dir,
                    &[
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-out",
                        &key,
                    ],
                );
            }
        }
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subject,
                "-multivalue-rdn",
            ],
        );
        self.sign(name, "extendedKeyUsage=clientAuth\n");
        let key_pem = match kind {
            "ec-sec1" => openssl(&self.dir, &["ec", "-in", &key]),
            "encrypted" => openssl(
                &self.dir,
                &[
                    "pkcs8",
                    "-topk8",
                    "-v2",
                    "aes-256-cbc",
                    "-in",
                    &key,
                    "-passout",
                    &format!("pass:{password}"),
                ],
            ),
            _ => std::fs::read_to_string(self.dir.join(&key)).unwrap(),
        };
        let certificate = std::fs::read_to_string(self.dir.join(format!("{name}.crt"))).unwrap();
        let path = self.dir.join(format!("{name}.pem"));
        std::fs::write(&path, format!("{certificate}{key_pem}")).unwrap();
        path
    }
}

/// A self-signed server certificate as `openssl req -x509` makes it with its default
/// configuration (`CA:TRUE`), for the subject alternative names `names`: (`NAME.crt`,
/// `NAME.key`) in `dir`.
pub fn self_signed(dir: &Path, name: &str, names: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            &format!("subjectAltName={names}"),
        ],
    );
    (dir.join(crt), dir.join(key))
}
