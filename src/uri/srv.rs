//! Initial DNS seedlist discovery (`mongodb+srv`), without DNS: the caller looks the names up and
//! hands the records back.

use super::options::{Kind, parse_bool, parse_int};
use super::{ConnectionString, Host, UriOption, percent};
use crate::error::{Error, Result};
use crate::random::{SecureRandom, shuffle};

/// The two DNS lookups a `mongodb+srv` URI needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvQuery {
    /// The SRV name: `_<srvServiceName>._tcp.<host>` (service name `mongodb` by default).
    pub srv_name: String,
    /// The TXT name: the host itself.
    pub txt_name: String,
}

/// One SRV record (priority and weight play no part in seedlist discovery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    /// The target host name, with or without the trailing root dot.
    pub target: String,
    /// The port.
    pub port: u16,
}

impl SrvRecord {
    /// A record for `target:port`.
    pub fn new(target: impl Into<String>, port: u16) -> Self {
        SrvRecord {
            target: target.into(),
            port,
        }
    }
}

/// One TXT record: its character strings, which are joined without separator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxtRecord {
    /// The character strings of the record, as bytes.
    pub strings: Vec<Vec<u8>>,
}

impl TxtRecord {
    /// A record made of these strings.
    pub fn new<S: Into<Vec<u8>>>(strings: impl IntoIterator<Item = S>) -> Self {
        TxtRecord {
            strings: strings.into_iter().map(Into::into).collect(),
        }
    }
}

/// The only options a TXT record may carry.
const TXT_OPTIONS: [&str; 3] = ["authSource", "replicaSet", "loadBalanced"];

impl ConnectionString {
    /// The names to look up for a `mongodb+srv` URI that is not yet resolved; `None` otherwise.
    pub fn srv_query(&self) -> Option<SrvQuery> {
        let srv = self.srv.as_ref().filter(|srv| !srv.resolved)?;
        let service = self.option("srvServiceName").unwrap_or("mongodb");
        Some(SrvQuery {
            srv_name: format!("_{service}._tcp.{}", srv.hostname),
            txt_name: srv.hostname.clone(),
        })
    }

    /// Applies the answers to [`srv_query`](Self::srv_query): the SRV targets become the hosts,
    /// the TXT record's options fill in what the URI left unset, `srvMaxHosts` picks a random
    /// subset (drawn from `random`), and TLS defaults to on. Every rule of the initial DNS seedlist
    /// discovery spec is checked; a violation is an error, never a warning.
    ///
    /// ```
    /// use mongodb_auth::{ConnectionString, SrvRecord, TxtRecord};
    /// use mongodb_auth::random::SystemRandom;
    ///
    /// let cs = ConnectionString::parse("mongodb+srv://user:pw@cluster0.example.com/")?;
    /// let query = cs.srv_query().unwrap();
    /// assert_eq!(query.srv_name, "_mongodb._tcp.cluster0.example.com");
    /// let resolved = cs.resolve_srv(
    ///     &[SrvRecord::new("shard-00.example.com.", 27017)],
    ///     &[TxtRecord::new(["authSource=admin&replicaSet=rs0"])],
    ///     &mut SystemRandom,
    /// )?;
    /// assert_eq!(resolved.hosts()[0].to_string(), "shard-00.example.com:27017");
    /// assert!(resolved.tls_enabled());
    /// assert_eq!(resolved.option("replicaSet"), Some("rs0"));
    /// # Ok::<(), mongodb_auth::Error>(())
    /// ```
    pub fn resolve_srv<R: SecureRandom + ?Sized>(
        &self,
        srv_records: &[SrvRecord],
        txt_records: &[TxtRecord],
        random: &mut R,
    ) -> Result<ConnectionString> {
        let hostname = match &self.srv {
            Some(srv) if !srv.resolved => srv.hostname.clone(),
            Some(_) => return Err(Error::srv("the connection string is already resolved")),
            None => {
                return Err(Error::srv(
                    "only a mongodb+srv connection string is resolved",
                ));
            }
        };
        if srv_records.is_empty() {
            return Err(Error::srv(format!("no SRV record found for `{hostname}`")));
        }
        let mut hosts: Vec<Host> = Vec::with_capacity(srv_records.len());
        let mut seen = std::collections::HashSet::new();
        for record in srv_records {
            let host = seed_host(&hostname, record)?;
            if seen.insert(host.server_key()) {
                hosts.push(host);
            }
        }

        let mut resolved = self.clone();
        if let Some(srv) = &mut resolved.srv {
            srv.resolved = true;
        }
        resolved.apply_txt(txt_records)?;

        if let Some(max) = resolved.option("srvMaxHosts").and_then(parse_int) {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            if max > 0 && max < hosts.len() {
                shuffle(&mut hosts, random);
                hosts.truncate(max);
            }
        }
        resolved.hosts = hosts;
        if resolved.tls.enabled.is_none() {
            resolved.tls.enabled = Some(true);
        }
        resolved.check_option_rules()?;
        resolved.revalidate_credential()?;
        Ok(resolved)
    }

    fn apply_txt(&mut self, txt_records: &[TxtRecord]) -> Result<()> {
        let record = match txt_records {
            [] => return Ok(()),
            [record] => record,
            _ => return Err(Error::srv("more than one TXT record was found")),
        };
        let text = String::from_utf8(record.strings.concat())
            .map_err(|_| Error::srv("the TXT record is not UTF-8"))?;
        // The record is written as the URI's options are, so read with the same separator.
        let separator = super::option_separator(&text).map_err(|_| {
            Error::srv("the TXT record's options are separated by both `&` and `;`")
        })?;
        for pair in text.split(separator).filter(|pair| !pair.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').ok_or_else(|| {
                Error::srv(format!("TXT option `{pair}` is not written `key=value`"))
            })?;
            let key = TXT_OPTIONS
                .into_iter()
                .find(|allowed| allowed.eq_ignore_ascii_case(raw_key))
                .ok_or_else(|| {
                    Error::srv(format!(
                        "TXT records may only set authSource, replicaSet and loadBalanced, not `{raw_key}`"
                    ))
                })?;
            let value = percent::decode(raw_value)
                .map_err(|e| Error::srv(format!("TXT option `{key}`: {}", e.rule())))?;
            if value.is_empty() {
                return Err(Error::srv(format!("TXT option `{key}` has an empty value")));
            }
            // Options in the URI win over the TXT record.
            match key {
                "authSource" => {
                    if self.auth.source.is_none() {
                        self.auth.source = Some(value);
                    }
                }
                _ => {
                    if key == "loadBalanced" && parse_bool(&value).is_none() {
                        return Err(Error::srv(format!(
                            "TXT option loadBalanced must be {}",
                            Kind::Bool.expected()
                        )));
                    }
                    if self.option(key).is_none() {
                        self.options.push(UriOption::new(key.to_owned(), value));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks one SRV target against the SRV name and makes it a host.
///
/// The target must end in the SRV name's parent domain, preceded by a `.`. For a name of three
/// or more labels the parent is the name minus its first label; for one or two labels it is the
/// whole name (so `localhost` may return `mongo.localhost`, never `localhost` itself).
fn seed_host(srv_hostname: &str, record: &SrvRecord) -> Result<Host> {
    let target = record.target.trim_end_matches('.').to_ascii_lowercase();
    let srv_hostname = srv_hostname.trim_end_matches('.');
    let labels = srv_hostname.split('.').count();
    let domain = match srv_hostname.split_once('.') {
        Some((_, parent)) if labels >= 3 => parent,
        _ => srv_hostname,
    };
    let suffix = format!(".{domain}");
    if !target.ends_with(&suffix) || target.len() <= suffix.len() {
        return Err(Error::srv(format!(
            "SRV target `{target}` is not in the domain `{domain}` of `{srv_hostname}`"
        )));
    }
    if record.port == 0 {
        return Err(Error::srv(format!("SRV target `{target}` has port 0")));
    }
    match Host::parse(&format!("{}:{}", percent::encode(&target), record.port)) {
        Ok(host @ Host::Name { .. }) => Ok(host),
        _ => Err(Error::srv(format!(
            "SRV target `{target}` is not a valid host name"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SystemRandom;

    fn resolve(uri: &str, targets: &[&str]) -> Result<ConnectionString> {
        let records: Vec<SrvRecord> = targets.iter().map(|t| SrvRecord::new(*t, 27017)).collect();
        ConnectionString::parse(uri)?.resolve_srv(&records, &[], &mut SystemRandom)
    }

    // The stubbed-DNS prose cases of the seedlist spec's test README.
    #[test]
    fn fewer_than_three_labels_parse_without_lookup() {
        for uri in ["mongodb+srv://localhost", "mongodb+srv://mongo.local"] {
            let cs = ConnectionString::parse(uri).unwrap();
            assert!(cs.srv_query().is_some());
        }
    }

    #[test]
    fn target_outside_the_domain_is_an_error() {
        for (host, target) in [
            ("localhost", "localhost.mongodb"),
            ("mongo.local", "test_1.evil.local"),
            ("blogs.mongodb.com", "blogs.evil.com"),
        ] {
            assert!(
                resolve(&format!("mongodb+srv://{host}"), &[target]).is_err(),
                "{target}"
            );
        }
    }

    #[test]
    fn target_equal_to_a_short_srv_name_is_an_error() {
        for host in ["localhost", "mongo.local"] {
            assert!(
                resolve(&format!("mongodb+srv://{host}"), &[host]).is_err(),
                "{host}"
            );
        }
    }

    #[test]
    fn domain_must_follow_a_dot() {
        for (host, target) in [
            ("localhost", "test_1.cluster_1localhost"),
            ("mongo.local", "test_1.my_hostmongo.local"),
            ("blogs.mongodb.com", "cluster.testmongodb.com"),
        ] {
            assert!(
                resolve(&format!("mongodb+srv://{host}"), &[target]).is_err(),
                "{target}"
            );
        }
    }

    #[test]
    fn matching_targets_resolve() {
        for (host, target) in [
            ("localhost", "test_1.localhost"),
            ("mongo.local", "test_1.mongo.local"),
            ("blogs.mongodb.com", "cluster.mongodb.com."),
        ] {
            let cs = resolve(&format!("mongodb+srv://{host}"), &[target]).unwrap();
            assert_eq!(cs.hosts()[0].host(), target.trim_end_matches('.'));
        }
    }

    /// `srvServiceName` takes an RFC 6335 service name, longer than its 15 characters up to a
    /// DNS label's 62 (the seedlist discovery specification); another value is refused, not
    /// ignored, which would send the lookup to another service than the one named.
    #[test]
    fn the_srv_service_name_is_a_service_name() {
        let longest = format!("a{}", "-b".repeat(30)) + "c";
        assert_eq!(longest.len(), 62);
        for good in ["customname", "mongodb-2", "x", "9a", longest.as_str()] {
            let cs = ConnectionString::parse(&format!(
                "mongodb+srv://a.example.com/?srvServiceName={good}"
            ))
            .unwrap();
            assert!(cs.warnings().is_empty(), "{good}: {:?}", cs.warnings());
            let name = cs.srv_query().unwrap().srv_name;
            assert_eq!(name, format!("_{good}._tcp.a.example.com"));
        }
        let too_long = format!("{longest}d");
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "12",
            "a.b",
            "a_b",
            "a%20b",
            too_long.as_str(),
        ] {
            for scheme in ["mongodb+srv://a.example.com", "mongodb://h"] {
                let refused = ConnectionString::parse(&format!("{scheme}/?srvServiceName={bad}"))
                    .unwrap_err();
                let named = |option: &str| option == "srvServiceName";
                assert!(
                    matches!(&refused, Error::InvalidOption { option, .. } if named(option)),
                    "{scheme} {bad:?}: {refused:?}"
                );
            }
        }
    }

    /// A TXT record's options are read as the URI's are: separated by `&`, or by `;` alone.
    #[test]
    fn a_txt_record_is_split_as_the_uri_options_are() {
        let records = [SrvRecord::new("h.example.com", 27017)];
        let resolve_txt = |text: &str| {
            ConnectionString::parse("mongodb+srv://a.example.com/")
                .unwrap()
                .resolve_srv(&records, &[TxtRecord::new([text])], &mut SystemRandom)
        };
        for text in ["authSource=a&replicaSet=rs", "authSource=a;replicaSet=rs"] {
            let cs = resolve_txt(text).unwrap();
            assert_eq!(cs.option("replicaSet"), Some("rs"), "{text}");
            assert_eq!(cs.auth_source(), Some("a"), "{text}");
        }
        assert!(resolve_txt("authSource=a;replicaSet=rs&loadBalanced=false").is_err());
    }

    #[test]
    fn srv_max_hosts_picks_a_random_subset() {
        let cs = ConnectionString::parse("mongodb+srv://a.example.com/?srvMaxHosts=2").unwrap();
        let records: Vec<SrvRecord> = (1..=5)
            .map(|i| SrvRecord::new(format!("h{i}.example.com"), 27017))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let resolved = cs.resolve_srv(&records, &[], &mut SystemRandom).unwrap();
            assert_eq!(resolved.hosts().len(), 2);
            seen.extend(resolved.hosts().iter().map(Host::host));
        }
        assert!(seen.len() > 2, "always the same subset: {seen:?}");
    }
}
