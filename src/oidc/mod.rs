//! MONGODB-OIDC (feature `oidc`): the machine (workload) and human (workforce) flows of rules L14
//! to L21, driven by the [`Authenticator`](crate::Authenticator), with the client cache
//! ([`OidcClient`]) that connections share.
//!
//! The authenticator asks for a token with [`Step::Callback`](crate::Step::Callback); the
//! caller runs the request on its [`Runtime`](crate::callback::Runtime): it waits its turn behind
//! the other connections of the client, calls the caller's callback (async, or blocking on the
//! runtime's blocking pool), or has the runtime answer what a built-in environment asks (read
//! `OIDC_TOKEN_FILE`, query Azure's or GCP's metadata endpoint):
//!
//! ```
//! use mongodb_auth::credential::Flow;
//! use mongodb_auth::oidc::{Callback, OidcClient, Token};
//! use mongodb_auth::{AuthOptions, Authenticator, ConnectionString, CredentialOptions, Step};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cs = ConnectionString::parse_with_credential_options(
//!     "mongodb://db.example.com/?authMechanism=MONGODB-OIDC",
//!     CredentialOptions::new().oidc_callback(Flow::Machine),
//! )?;
//! let client = OidcClient::new(); // one per client, shared by its connections
//! let options = AuthOptions::default()
//!     .oidc_client(client.clone())
//!     .oidc_callback(Callback::new(|_context| async { Ok(Token::new("eyJ...")) }));
//! let mut auth = Authenticator::new(cs.credential().unwrap(), options)?;
//! auth.hello_fields()?; // the cache is empty: no speculative attempt
//! let hello_reply = bson::rawdoc! { "ok": 1.0 }.into_bytes();
//! let Step::Callback(request) = auth.handle_hello_reply(&hello_reply)? else { unreachable!() };
//! let output = tokio::runtime::Runtime::new()?
//!     .block_on(request.run(&mongodb_auth_io::tokio::Runtime::default()));
//! let Step::Send(command) = auth.handle_callback(output)? else { unreachable!() };
//! assert_eq!((command.name(), command.db()), ("saslStart", "$external"));
//! assert_eq!(client.callback_calls(), 1);
//! # Ok(()) }
//! ```
//!
//! The credential says which flow its callback serves (the spec's `OIDC_CALLBACK` and
//! `OIDC_HUMAN_CALLBACK` properties,
//! [`CredentialOptions::oidc_callback`](crate::CredentialOptions::oidc_callback)); the callback
//! itself ([`Callback`]: what it is given, [`CallbackContext`], and returns, [`Token`], rules
//! L11 and L13) goes in the options the caller passes
//! ([`AuthOptions::oidc_callback`](crate::AuthOptions::oidc_callback)).

pub(crate) mod builtin;
mod cache;
mod callback;
mod discovery;
pub(crate) mod human;

use std::time::Duration;

use bson::raw::cstr;
use bson::{RawBsonRef, RawDocument, RawDocumentBuf};
use zeroize::Zeroizing;

pub use crate::callback::CallbackError;
pub use crate::credential::Flow;
pub use cache::{
    IssuedToken, MIN_CALLBACK_INTERVAL, OidcClient, SavedTokens, TokenOutput, TokenRequest,
};
pub use callback::{CALLBACK_VERSION, Callback, CallbackContext, IdpInfo, Token};
pub use discovery::{MAX_DISCOVERY_SIZE, ProviderMetadata, check_endpoint, fetched_body};
pub use human::{
    DEFAULT_REDIRECT_URI, FLOW_RANDOM_BYTES, FlowStep, HumanFlow, HumanFlows, HumanLogin,
    MAX_REDIRECT_SIZE, MAX_TOKEN_REPLY_SIZE,
};

pub(crate) use builtin::BuiltIn;
pub(crate) use cache::Provider;

use crate::error::{OidcError, Result};
use crate::secret::Secret;

/// The mechanism name.
pub const MECHANISM: &str = "MONGODB-OIDC";

/// How long a machine callback may take when no operation timeout applies (rule L12).
pub const MACHINE_CALLBACK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a human callback may take (rule L12).
pub const HUMAN_CALLBACK_TIMEOUT: Duration = Duration::from_secs(300);

/// `ALLOWED_HOSTS` when the credential sets none (rule L6).
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &[
    "*.mongodb.net",
    "*.mongodb-qa.net",
    "*.mongodb-dev.net",
    "*.mongodbgov.net",
    "localhost",
    "127.0.0.1",
    "::1",
    "*.mongo.com",
];

/// The largest `IdpInfo` document read.
const MAX_IDP_INFO_SIZE: usize = 16 * 1024;

/// The `JwtStepRequest` payload, `{jwt: <token>}` (rule L14), in a buffer wiped when dropped.
pub(crate) fn jwt_payload(access_token: &Secret) -> Zeroizing<Vec<u8>> {
    let token = access_token.expose();
    // Built at its final size, so no reallocation leaves a copy of the token behind.
    let mut document = crate::command::document_with_capacity(16 + token.len());
    document.append(cstr!("jwt"), token);
    Zeroizing::new(document.into_bytes())
}

/// The `PrincipalStepRequest` payload, `{n: <username>}`, or `{}` without a username (rule L15).
pub(crate) fn principal_payload(username: Option<&str>) -> Vec<u8> {
    let mut document = RawDocumentBuf::new();
    if let Some(name) = username {
        document.append(cstr!("n"), name);
    }
    document.into_bytes()
}

impl IdpInfo {
    /// Reads the server's `IdpInfo` (the payload of its reply to the principal step): `issuer`
    /// is required; `clientId` and `requestScopes` are optional.
    pub fn from_bson(payload: &[u8]) -> Result<IdpInfo> {
        let malformed = |rule: &'static str| OidcError::MalformedIdpInfo { rule };
        if payload.len() > MAX_IDP_INFO_SIZE {
            return Err(malformed("is larger than 16 KiB").into());
        }
        let doc = RawDocument::from_bytes(payload).map_err(|_| malformed("is not BSON"))?;
        let mut issuer = None;
        let mut client_id = None;
        let mut request_scopes = Vec::new();
        for element in doc {
            let (key, value) = element.map_err(|_| malformed("is not BSON"))?;
            match (key.as_str(), value) {
                ("issuer", RawBsonRef::String(s)) => issuer = Some(s.to_owned()),
                ("clientId", RawBsonRef::String(s)) => client_id = Some(s.to_owned()),
                ("requestScopes", RawBsonRef::Array(scopes)) => {
                    for scope in scopes {
                        match scope {
                            Ok(RawBsonRef::String(s)) => request_scopes.push(s.to_owned()),
                            _ => return Err(malformed("has a scope that is not a string").into()),
                        }
                    }
                }
                ("issuer" | "clientId" | "requestScopes", _) => {
                    return Err(malformed("has a field of the wrong type").into());
                }
                _ => {}
            }
        }
        Ok(IdpInfo {
            issuer: issuer.ok_or_else(|| malformed("has no `issuer`"))?,
            client_id,
            request_scopes,
        })
    }
}

/// Whether `host` (a name or an IP address, no port) matches one of `patterns` (rule L6): exactly
/// (ASCII case aside), or, for a pattern `*.suffix`, as a subdomain of `suffix` at any depth.
pub(crate) fn host_allowed<S: AsRef<str>>(host: &str, patterns: &[S]) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .trim_end_matches('.');
    patterns.iter().any(|pattern| {
        let pattern = pattern.as_ref();
        match pattern.strip_prefix("*.") {
            Some(suffix) => host
                .len()
                .checked_sub(suffix.len() + 1)
                .and_then(|dot| host.get(dot..))
                .and_then(|tail| tail.strip_prefix('.'))
                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix)),
            None => host.eq_ignore_ascii_case(pattern),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn payloads_match_the_spec_vectors() {
        assert_eq!(
            STANDARD.encode(jwt_payload(&Secret::new("abcd1234")).as_slice()),
            "FwAAAAJqd3QACQAAAGFiY2QxMjM0AAA="
        );
        assert_eq!(
            STANDARD.encode(principal_payload(Some("myidp"))),
            "EgAAAAJuAAYAAABteWlkcAAA"
        );
        assert_eq!(principal_payload(None), RawDocumentBuf::new().into_bytes());
    }

    #[test]
    fn idp_info_of_the_spec_vector() {
        let bytes = STANDARD
            .decode("WQAAAAJpc3N1ZXIADwAAAGh0dHBzOi8vaXNzdWVyAAJjbGllbnRJZAAFAAAAYWJjZAAEcmVxdWVzdFNjb3BlcwAXAAAAAjAAAgAAAGEAAjEAAgAAAGIAAAA=")
            .unwrap();
        let info = IdpInfo::from_bson(&bytes).unwrap();
        assert_eq!(
            info,
            IdpInfo::new("https://issuer")
                .with_client_id("abcd")
                .with_request_scopes(["a", "b"])
        );
        let no_client = bson::rawdoc! { "issuer": "https://i" }.into_bytes();
        assert_eq!(IdpInfo::from_bson(&no_client).unwrap().client_id, None);
        for bad in [
            bson::rawdoc! { "clientId": "c" }.into_bytes(),
            bson::rawdoc! { "issuer": 1 }.into_bytes(),
            bson::rawdoc! { "issuer": "i", "requestScopes": [1] }.into_bytes(),
            b"\x05\x00".to_vec(),
        ] {
            assert!(IdpInfo::from_bson(&bad).is_err());
        }
    }

    #[test]
    fn allowed_hosts_match_hosts_not_substrings() {
        let defaults = DEFAULT_ALLOWED_HOSTS.to_vec();
        assert!(host_allowed("cluster0.abcde.mongodb.net", &defaults));
        assert!(host_allowed("a.b.c.mongodb.net", &defaults));
        assert!(host_allowed("LOCALHOST", &defaults));
        assert!(host_allowed("[::1]", &defaults));
        assert!(!host_allowed("mongodb.net", &defaults));
        assert!(!host_allowed("evilmongodb.net", &defaults));
        assert!(!host_allowed("mongodb.net.evil.com", &defaults));
        assert!(!host_allowed("example.com", &[] as &[&str]));
        assert!(!host_allowed("localhost", &["example.com"]));
    }
}
