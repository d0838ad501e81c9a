//! Host identifiers: names, IPv4, bracketed IPv6 literals and percent-encoded UNIX socket paths.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::percent;
use crate::error::{Error, Result};

/// The port MongoDB listens on when the URI names none.
pub const DEFAULT_PORT: u16 = 27017;

/// One server address of a connection string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host {
    /// A DNS name, lowercased (ASCII) because names are compared case-insensitively.
    Name {
        /// The name.
        name: String,
        /// The port, if the URI gave one.
        port: Option<u16>,
    },
    /// An IPv4 address.
    Ipv4 {
        /// The address.
        addr: Ipv4Addr,
        /// The port, if the URI gave one.
        port: Option<u16>,
    },
    /// An IPv6 literal, written in brackets in the URI.
    Ipv6 {
        /// The address.
        addr: Ipv6Addr,
        /// The port, if the URI gave one.
        port: Option<u16>,
    },
    /// A UNIX domain socket path (percent-encoded in the URI, ending in `.sock`).
    Unix {
        /// The decoded path.
        path: String,
    },
}

impl Host {
    /// The host without port: the name, the address (IPv6 without brackets) or the socket path.
    pub fn host(&self) -> String {
        match self {
            Host::Name { name, .. } => name.clone(),
            Host::Ipv4 { addr, .. } => addr.to_string(),
            Host::Ipv6 { addr, .. } => addr.to_string(),
            Host::Unix { path } => path.clone(),
        }
    }

    /// The port given in the URI.
    pub fn port(&self) -> Option<u16> {
        match self {
            Host::Name { port, .. } | Host::Ipv4 { port, .. } | Host::Ipv6 { port, .. } => *port,
            Host::Unix { .. } => None,
        }
    }

    /// The port to connect to: the one given, else 27017. `None` for a UNIX socket.
    pub fn effective_port(&self) -> Option<u16> {
        match self {
            Host::Unix { .. } => None,
            _ => Some(self.port().unwrap_or(DEFAULT_PORT)),
        }
    }

    /// Parses one host identifier of the host list.
    pub(crate) fn parse(raw: &str) -> Result<Host> {
        let invalid = |rule| Error::InvalidHost {
            host: raw.to_owned(),
            rule,
        };
        if raw.is_empty() {
            return Err(invalid("a host identifier is empty"));
        }
        if let Some(literal) = raw.strip_prefix('[') {
            let (addr, after) = literal
                .split_once(']')
                .ok_or_else(|| invalid("an IP literal misses its closing `]`"))?;
            let addr = addr
                .parse::<Ipv6Addr>()
                .map_err(|_| invalid("the bracketed IP literal is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => {
                    let port = after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("only `:port` may follow an IP literal"))?;
                    Some(parse_port(port).ok_or_else(|| invalid(PORT_RULE))?)
                }
            };
            return Ok(Host::Ipv6 { addr, port });
        }
        let (name, port) = match raw.split_once(':') {
            Some((name, port)) => (
                name,
                Some(parse_port(port).ok_or_else(|| invalid(PORT_RULE))?),
            ),
            None => (raw, None),
        };
        let decoded = percent::decode(name).map_err(|e| invalid(e.rule()))?;
        if decoded.is_empty() {
            return Err(invalid("the host name is empty"));
        }
        if decoded.contains('/') {
            if !decoded.ends_with(".sock") {
                return Err(invalid("a UNIX socket path must end in `.sock`"));
            }
            if port.is_some() {
                return Err(invalid("a UNIX socket path takes no port"));
            }
            // A NUL would end the path early for the kernel (or, first, name an abstract
            // socket anyone may bind), and a control character would reach terminals.
            if decoded.chars().any(char::is_control) {
                return Err(invalid("a UNIX socket path holds a control character"));
            }
            return Ok(Host::Unix { path: decoded });
        }
        if decoded
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@?#[]%\\,:".contains(c))
        {
            return Err(invalid(
                "the host name contains a character no host name may hold",
            ));
        }
        if let Ok(addr) = decoded.parse::<Ipv4Addr>() {
            return Ok(Host::Ipv4 { addr, port });
        }
        Ok(Host::Name {
            name: decoded.to_ascii_lowercase(),
            port,
        })
    }

    /// What identifies the server: two hosts with the same key are the same server (ports
    /// compared after defaulting).
    pub(crate) fn server_key(&self) -> (String, Option<u16>) {
        (self.host(), self.effective_port())
    }

    /// The identifier as it is written in a connection string (percent-encoded where needed).
    pub(crate) fn to_uri_component(&self) -> String {
        let with_port = |host: String, port: Option<u16>| match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        match self {
            Host::Name { name, port } => with_port(percent::encode(name), *port),
            Host::Ipv4 { addr, port } => with_port(addr.to_string(), *port),
            Host::Ipv6 { addr, port } => with_port(format!("[{addr}]"), *port),
            Host::Unix { path } => percent::encode(path),
        }
    }
}

impl fmt::Display for Host {
    /// `host:port` with the port defaulted; IPv6 in brackets; a socket path as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix { path } => f.write_str(path),
            Host::Ipv6 { addr, .. } => write!(
                f,
                "[{addr}]:{}",
                self.effective_port().unwrap_or(DEFAULT_PORT)
            ),
            _ => write!(
                f,
                "{}:{}",
                self.host(),
                self.effective_port().unwrap_or(DEFAULT_PORT)
            ),
        }
    }
}

const PORT_RULE: &str = "a port must be a number from 1 to 65535";

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            Host::parse("Example.COM:27020").unwrap(),
            Host::Name {
                name: "example.com".into(),
                port: Some(27020)
            }
        );
        assert!(matches!(
            Host::parse("127.0.0.1").unwrap(),
            Host::Ipv4 { port: None, .. }
        ));
        assert!(matches!(
            Host::parse("256.0.0.1").unwrap(),
            Host::Name { .. }
        ));
        assert!(matches!(
            Host::parse("[::1]:27019").unwrap(),
            Host::Ipv6 {
                port: Some(27019),
                ..
            }
        ));
        assert_eq!(
            Host::parse("%2Ftmp%2F %2Fm.sock").unwrap(),
            Host::Unix {
                path: "/tmp/ /m.sock".into()
            }
        );
        assert!(matches!(
            Host::parse("mongodb-27017.sock").unwrap(),
            Host::Name { .. }
        ));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "localhost:",
            "localhost::27017",
            "localhost:0",
            "localhost:65536",
            "localhost:-1",
            "localhost:+1",
            "[::1",
            "[::1]x",
            "[nope]",
            "%2Ftmp%2Fm",
            "%2Ftmp%2Fm.sock:1",
            "%2Ftmp%2Fm%00x%2Fm.sock",
            "%00%2Fabstract.sock",
            "%2Ftmp%2F%1B%5B2Jm.sock",
            "a%zz",
            "a b",
            "a@b",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn printing_round_trips() {
        for raw in [
            "example.com",
            "example.com:1",
            "[::1]:2",
            "10.0.0.1",
            "%2Ftmp%2Fa%20b.sock",
        ] {
            let host = Host::parse(raw).unwrap();
            assert_eq!(Host::parse(&host.to_uri_component()).unwrap(), host);
        }
    }
}
