//! DNS for the adapters: the SRV and TXT lookups of `mongodb+srv` and, with a
//! resolver override, the host lookups that follow, on hickory. The records go to
//! [`ConnectionString::resolve_srv`], which holds every rule of seedlist discovery.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

use hickory_resolver::proto::rr::RecordType;

use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::error::{Error, Result};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::uri::{ConnectionString, Host, SrvRecord, TxtRecord};

/// Where a host is to be reached: its name (for TLS) and port, and, when the resolver override
/// looked it up, its addresses (else the system resolves the name when connecting); or a UNIX
/// socket's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The host's name or address, or the UNIX socket's path.
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) addresses: Option<Vec<SocketAddr>>,
    /// Whether `host` is a UNIX socket's path (`port` and `addresses` then mean nothing).
    pub(crate) unix_socket: bool,
}

impl Target {
    /// Where the connection goes, as events and `Connection::address` show it: `host:port`, or
    /// the socket's path.
    pub(crate) fn address(&self) -> String {
        if self.unix_socket {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The name the server's certificate is checked for: the host's, or `localhost` for a UNIX
    /// socket, whose path no certificate can name (the Node driver checks `localhost` too).
    pub(crate) fn tls_name(&self) -> &str {
        if self.unix_socket {
            "localhost"
        } else {
            &self.host
        }
    }
}

/// What the resolver says of a host's addresses.
enum Addresses {
    /// These, valid until then.
    Found(Vec<SocketAddr>, Option<Instant>),
    /// None: the server says the name has none (this error says how).
    None(Error),
}

/// A resolver: the system's, or one name server for every lookup.
pub(crate) struct Resolver(TokioResolver);

impl Resolver {
    /// Must be called inside a tokio runtime.
    pub(crate) fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self> {
        let resolver = match server {
            Some(address) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(address, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(address, Protocol::Tcp));
                let mut options = ResolverOpts::default();
                options.timeout = timeout;
                options.cache_size = 0;
                options.use_hosts_file = ResolveHosts::Never;
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                    .with_options(options)
                    .build()
            }
            None => {
                let mut builder = TokioResolver::builder_tokio().map_err(|e| Error::Dns {
                    name: "/etc/resolv.conf".into(),
                    reason: format!("cannot read the system resolver configuration: {e}"),
                })?;
                builder.options_mut().timeout = timeout;
                builder.build()
            }
        };
        Ok(Resolver(resolver))
    }

    /// SRV records, and until when they hold (their TTL).
    async fn srv(&self, name: &str) -> Result<(Vec<SrvRecord>, Instant)> {
        let lookup = self
            .0
            .srv_lookup(fully_qualified(name))
            .await
            .map_err(|e| dns_error(name, &e))?;
        let records = lookup
            .iter()
            .map(|srv| SrvRecord::new(srv.target().to_ascii(), srv.port()))
            .collect();
        Ok((records, lookup.as_lookup().valid_until()))
    }

    /// TXT records, and until when they hold; none is an answer, not an error.
    async fn txt(&self, name: &str) -> Result<(Vec<TxtRecord>, Option<Instant>)> {
        match self.0.txt_lookup(fully_qualified(name)).await {
            Ok(lookup) => Ok((
                lookup
                    .iter()
                    .map(|txt| TxtRecord::new(txt.txt_data().iter().map(|s| s.to_vec())))
                    .collect(),
                Some(lookup.as_lookup().valid_until()),
            )),
            Err(e) if not_found(&e) => Ok((Vec::new(), None)),
            Err(e) => Err(dns_error(name, &e)),
        }
    }

    /// A host's addresses, and until when they hold (`None`: an IP address, for ever).
    /// The host's addresses, or [`Addresses::None`] when the server says it has none (NXDOMAIN,
    /// or no record); any other failure (a server that does not answer) is an error.
    async fn addresses(&self, host: &str, port: u16) -> Result<Addresses> {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Addresses::Found(vec![SocketAddr::new(ip, port)], None));
        }
        match self.0.lookup_ip(fully_qualified(host)).await {
            Ok(lookup) => {
                let addresses = lookup.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                Ok(Addresses::Found(
                    addresses,
                    Some(lookup.as_lookup().valid_until()),
                ))
            }
            Err(e) if e.is_no_records_found() => Ok(Addresses::None(dns_error(host, &e))),
            Err(e) => Err(dns_error(host, &e)),
        }
    }
}

/// Whether the adapter's resolver answers `ask` (rather than [`crate::answer::answer`]).
pub(crate) fn is_dns_ask(ask: &Ask) -> bool {
    matches!(ask, Ask::LookupHost(_) | Ask::ReverseLookup(_))
}

/// Answers a DNS ask (GSSAPI's host canonicalization) with the connection's resolver. A failed
/// lookup is an answer too: the machine falls back to the host as given.
pub(crate) async fn answer(ask: &Ask, server: Option<SocketAddr>, timeout: Duration) -> Answer {
    let resolver = match Resolver::new(server, timeout) {
        Ok(resolver) => resolver,
        Err(e) => return ask.fail(e.to_string()),
    };
    match ask {
        Ask::LookupHost(lookup) => {
            let name = lookup.name();
            if let Ok(ip) = name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                return lookup.answer(name, vec![ip]);
            }
            match resolver.0.lookup_ip(name).await {
                // The name goes as given, not fully qualified, so a short host name gets the
                // resolver's search domains, as when connecting. The owner of the address
                // records is where the CNAME chain ends.
                Ok(found) => {
                    let canonical_name = found
                        .as_lookup()
                        .records()
                        .iter()
                        .find(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
                        .map(|r| r.name().to_ascii())
                        .unwrap_or_else(|| name.to_owned());
                    lookup.answer(canonical_name, found.iter().collect())
                }
                Err(e) => ask.fail(dns_error(name, &e).to_string()),
            }
        }
        Ask::ReverseLookup(reverse) => match resolver.0.reverse_lookup(reverse.address()).await {
            Ok(found) => reverse.answer(found.iter().map(|name| name.to_ascii()).collect()),
            Err(e) => ask.fail(dns_error(&reverse.address().to_string(), &e).to_string()),
        },
        other => other.fail("not a DNS lookup"),
    }
}

/// Runs DNS work from blocking code: hickory needs a tokio runtime, and the blocking adapter
/// keeps one small one for the whole process (one worker thread, started at the first lookup),
/// never one per lookup. Inside an async runtime (a blocking connect from async code) no
/// runtime can be entered on this thread: the work gets a scoped thread of its own.
pub(crate) fn block_on<T: Send>(work: impl Future<Output = Result<T>> + Send) -> Result<T> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    let runtime = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("mongodb-auth dns")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| Error::Io {
            operation: "starting the DNS resolver",
            source: std::io::Error::new(e.kind(), e.to_string()),
        })?;
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(work))
                .join()
                .unwrap_or_else(|_| {
                    Err(Error::Io {
                        operation: "looking up a name",
                        source: std::io::Error::other("the DNS lookup thread panicked"),
                    })
                })
        })
    } else {
        runtime.block_on(work)
    }
}

fn fully_qualified(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// An empty answer or NXDOMAIN; hickory also reports SERVFAIL and REFUSED as "no records",
/// which are failures.
fn not_found(error: &ResolveError) -> bool {
    matches!(
        error.proto().map(|p| p.kind()),
        Some(ProtoErrorKind::NoRecordsFound {
            response_code: ResponseCode::NXDomain | ResponseCode::NoError,
            ..
        })
    )
}

fn dns_error(name: &str, error: &ResolveError) -> Error {
    let reason = match error.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NXDomain => "no such name (NXDOMAIN)".to_owned(),
            ResponseCode::NoError => "no record of that type".to_owned(),
            other => format!("the server answered {other}"),
        },
        _ => error.to_string(),
    };
    Error::Dns {
        name: name.trim_end_matches('.').to_owned(),
        reason,
    }
}

/// Whether connecting to `cs` needs the resolver here (`mongodb+srv`, or an override).
pub(crate) fn needs_resolver(cs: &ConnectionString, server: Option<SocketAddr>) -> bool {
    cs.srv_query().is_some() || server.is_some()
}

/// The hosts of a connection string that needs no lookup here, in order.
pub(crate) fn static_targets(cs: &ConnectionString) -> Vec<Target> {
    cs.hosts()
        .iter()
        .map(|host| Target {
            host: host.host(),
            port: host
                .effective_port()
                .unwrap_or(mongodb_auth::uri::DEFAULT_PORT),
            addresses: None,
            unix_socket: matches!(host, Host::Unix { .. }),
        })
        .collect()
}

/// The hosts of a connection string, resolved: the connection string to use with them (a
/// `mongodb+srv` one with its TXT options applied, TLS on by default), the hosts in order, and
/// until when the records they came from hold. Shared: a connector hands the same seeds to each
/// of its connections.
#[derive(Clone, Debug)]
pub(crate) struct Seeds {
    pub(crate) cs: Arc<ConnectionString>,
    pub(crate) targets: Arc<[Target]>,
    /// The earliest expiry of the DNS records used; `None` when none was (the hosts are the
    /// connection string's own).
    pub(crate) valid_until: Option<Instant>,
}

impl Seeds {
    /// The hosts of a connection string that needs no lookup here.
    pub(crate) fn of(cs: &ConnectionString) -> Seeds {
        Seeds {
            targets: static_targets(cs).into(),
            cs: Arc::new(cs.clone()),
            valid_until: None,
        }
    }

    /// Whether the records are still good at `now`.
    pub(crate) fn fresh(&self, now: Instant) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

/// The seeds of `cs`, in order, each lookup within `timeout` and all of them within `within`. With
/// a resolver override, the host names are looked up through it too. Must run inside a tokio
/// runtime.
pub(crate) async fn targets(
    cs: &ConnectionString,
    server: Option<SocketAddr>,
    timeout: Duration,
    within: Duration,
) -> Result<Seeds> {
    // A name with dozens of SRV targets, each looked up in turn, would otherwise hold a connect
    // for the timeout of each.
    tokio::time::timeout(within, targets_one_by_one(cs, server, timeout))
        .await
        .unwrap_or(Err(crate::timed_out("looking up the seed list", within)))
}

async fn targets_one_by_one(
    cs: &ConnectionString,
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Seeds> {
    if !needs_resolver(cs, server) {
        return Ok(Seeds::of(cs));
    }
    let resolver = Resolver::new(server, timeout)?;
    let mut valid_until: Option<Instant> = None;
    let mut holds_until = |until: Option<Instant>| {
        if let Some(until) = until {
            valid_until = Some(valid_until.map_or(until, |earlier| earlier.min(until)));
        }
    };
    let cs = match cs.srv_query() {
        Some(query) => {
            let (srv, srv_until) = resolver.srv(&query.srv_name).await?;
            let (txt, txt_until) = resolver.txt(&query.txt_name).await?;
            holds_until(Some(srv_until));
            holds_until(txt_until);
            cs.resolve_srv(&srv, &txt, &mut SystemRandom)?
        }
        None => cs.clone(),
    };
    let mut targets = static_targets(&cs);
    if server.is_some() {
        // The override answers the host lookups too; otherwise the system does, when connecting.
        // A host the server says has no address is passed over (until the seeds are looked up
        // again, as a resolver caches a negative answer), as a host the system cannot resolve
        // is when connecting; with none resolved, the first such answer is the error. A server
        // that does not answer ends the connect, as before: waiting on it for every host would
        // only multiply the wait.
        let mut resolved = Vec::with_capacity(targets.len());
        let mut first_failure = None;
        for mut target in targets {
            if target.unix_socket {
                resolved.push(target);
                continue;
            }
            match resolver.addresses(&target.host, target.port).await? {
                Addresses::Found(addresses, until) => {
                    holds_until(until);
                    target.addresses = Some(addresses);
                    resolved.push(target);
                }
                Addresses::None(failure) => {
                    first_failure.get_or_insert(failure);
                }
            }
        }
        if let (true, Some(failure)) = (resolved.is_empty(), first_failure) {
            return Err(failure);
        }
        targets = resolved;
    }
    Ok(Seeds {
        cs: Arc::new(cs),
        targets: targets.into(),
        valid_until,
    })
}
