//! What the workspace's tests share, written once: the embedded server and logins through both
//! adapters ([`embedded`]), a SCRAM server from RFC 5802's formulas and
//! BSON helpers ([`rfc5802`]), a test DNS server ([`dns`]), an HTTP server ([`http`]), a
//! throwaway Kerberos realm ([`kdc`]), the openssl command ([`openssl`]), the Python peers
//! ([`peers`]) and `mongodb-auth serve` as a child process ([`serve`]).

pub mod dns;
pub mod embedded;
pub mod http;
pub mod kdc;
pub mod openssl;
pub mod peers;
pub mod rfc5802;
pub mod serve;
