//! A throwaway MIT Kerberos realm for tests: a KDC on a loopback port, its database, config and
//! keytabs in a temporary directory, stopped and removed on drop. Needs `krb5kdc`,
//! `kdb5_util` and `kadmin.local` (Debian's krb5-kdc and krb5-admin-server).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REALM: &str = "MONGODB.TEST";

/// The programs a realm needs, found on PATH or in /usr/sbin.
pub fn tools_present() -> bool {
    ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"]
        .iter()
        .all(|tool| program(tool).is_some())
}

fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

pub struct Kdc {
    pub dir: crate::TempDir,
    pub config: PathBuf,
    child: Child,
}

impl Kdc {
    /// A realm with the service principals `mongodb/<host>` for each of `service_hosts` (in
    /// `server.keytab`) and the users `(name, password)`.
    pub fn start(service_hosts: &[&str], users: &[(&str, &str)]) -> Kdc {
        let dir = crate::TempDir::new("kdc");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("krb5.conf");
        let d = dir.display();
        std::fs::write(
            &config,
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n \
                 dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n \
                 udp_preference_limit = 1\n\
                 [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n  \
                 database_name = {d}/principal\n  key_stash_file = {d}/stash\n  \
                 acl_file = {d}/kadm5.acl\n  max_life = 1h\n }}\n\
                 [kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\
                 [domain_realm]\n localhost = {REALM}\n .test = {REALM}\n\
                 [logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("kadm5.acl"), "").unwrap();
        let mut kdc = Kdc {
            dir,
            config: config.clone(),
            child: Command::new("true").spawn().unwrap(),
        };
        kdc.admin(
            "kdb5_util",
            &["create", "-s", "-r", REALM, "-P", "master-password"],
        );
        for host in service_hosts {
            kdc.kadmin(&format!("addprinc -randkey mongodb/{host}"));
            kdc.kadmin(&format!(
                "ktadd -k {} mongodb/{host}",
                kdc.dir.join("server.keytab").display()
            ));
        }
        for (name, password) in users {
            kdc.kadmin(&format!("addprinc -pw {password} {name}"));
        }
        kdc.child = Command::new(program("krb5kdc").unwrap())
            .args(["-n", "-r", REALM])
            .env("KRB5_CONFIG", &config)
            .env("KRB5_KDC_PROFILE", &config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the KDC did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        kdc
    }

    fn admin(&self, tool: &str, args: &[&str]) {
        let output = Command::new(program(tool).unwrap())
            .args(args)
            .env("KRB5_CONFIG", &self.config)
            .env("KRB5_KDC_PROFILE", &self.config)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn kadmin(&self, query: &str) {
        self.admin("kadmin.local", &["-q", query]);
    }

    /// A client keytab for `name` that keeps its password working (`-norandkey`).
    pub fn client_keytab(&self, name: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.keytab"));
        self.kadmin(&format!("ktadd -norandkey -k {} {name}", path.display()));
        path
    }

    /// A ticket cache for `name`, by `kinit` with the password on its standard input.
    pub fn kinit(&self, name: &str, password: &str) -> PathBuf {
        let cache = self.dir.join(format!("{name}.ccache"));
        let output = crate::output_with_stdin(
            Command::new(program("kinit").unwrap())
                .args(["-c", &format!("FILE:{}", cache.display()), name])
                .env("KRB5_CONFIG", &self.config),
            format!("{password}\n").as_bytes(),
        )
        .unwrap();
        assert!(
            output.status.success(),
            "kinit {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        cache
    }

    pub fn server_keytab(&self) -> PathBuf {
        self.dir.join("server.keytab")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn principal(name: &str) -> String {
        format!("{name}@{REALM}")
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn file(path: &Path) -> String {
    format!("FILE:{}", path.display())
}
