//! The fixture table of `dns-records.txt`, answering SRV and TXT queries like a stub resolver.

use std::path::Path;

use mongodb_auth::{SrvRecord, TxtRecord};

#[derive(Clone, Default)]
pub struct Records {
    srv: Vec<(String, SrvRecord)>,
    txt: Vec<(String, TxtRecord)>,
}

/// DNS names compare case-insensitively and with or without the root dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Records {
    pub fn load(path: &Path) -> Records {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut records = Records::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                panic!(
                    "{}:{}: malformed record `{line}`",
                    path.display(),
                    number + 1
                )
            };
            let Some((name, rest)) = line.split_once(char::is_whitespace) else {
                bad()
            };
            let Some((kind, data)) = rest.trim_start().split_once(char::is_whitespace) else {
                bad()
            };
            let data = data.trim();
            match kind {
                "SRV" => {
                    let Some((target, port)) = data.split_once(char::is_whitespace) else {
                        bad()
                    };
                    let Ok(port) = port.trim().parse() else { bad() };
                    records
                        .srv
                        .push((normalize(name), SrvRecord::new(target, port)));
                }
                "TXT" => {
                    let strings: Vec<&str> = data.split('"').skip(1).step_by(2).collect();
                    if strings.is_empty() {
                        bad();
                    }
                    records.txt.push((normalize(name), TxtRecord::new(strings)));
                }
                _ => bad(),
            }
        }
        records
    }

    pub fn srv(&self, name: &str) -> Vec<SrvRecord> {
        let name = normalize(name);
        self.srv
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn txt(&self, name: &str) -> Vec<TxtRecord> {
        let name = normalize(name);
        self.txt
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .collect()
    }
}
