//! The crate's one error type.
//!
//! Every message names the rule that was broken and, where there is one, the option or field
//! that broke it. Messages never contain a password, a secret key or a session token.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, from parsing a URI to a server refusing a login.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The string does not start with `mongodb://` or `mongodb+srv://`.
    #[error("connection string: the scheme must be `mongodb://` or `mongodb+srv://`")]
    InvalidScheme,

    /// The host list is empty or malformed.
    #[error("connection string: invalid host `{host}`: {rule}")]
    InvalidHost {
        /// The host identifier as written (never part of the userinfo).
        host: String,
        /// The rule that was broken.
        rule: &'static str,
    },

    /// The userinfo (`user:password@`) breaks the connection-string rules. The offending text is
    /// deliberately not repeated: it may be a password.
    #[error(
        "connection string: invalid userinfo: {rule}; percent-encode the username and password"
    )]
    InvalidUserinfo {
        /// The rule that was broken.
        rule: &'static str,
    },

    /// The database path of the URI is not a valid database name.
    #[error("connection string: invalid database name `{name}`: {rule}")]
    InvalidDatabase {
        /// The decoded database name.
        name: String,
        /// The rule that was broken.
        rule: &'static str,
    },

    /// An option is malformed or has a value the crate must reject (rather than ignore with a
    /// warning).
    #[error("connection string: option `{option}`: {rule}")]
    InvalidOption {
        /// The option key, as the user spelled it.
        option: String,
        /// The rule that was broken.
        rule: String,
    },

    /// Two options that may not be combined were both given.
    #[error("connection string: options `{first}` and `{second}` conflict: {rule}")]
    ConflictingOptions {
        /// The first option, as spelled by the user.
        first: String,
        /// The second option, as spelled by the user.
        second: String,
        /// Why they conflict.
        rule: &'static str,
    },

    /// The credential breaks a rule of the auth spec for its mechanism.
    #[error("credential for {mechanism}: {rule}")]
    InvalidCredential {
        /// The mechanism the rule belongs to (`default` when negotiated).
        mechanism: String,
        /// The rule that was broken.
        rule: String,
    },

    /// DNS seedlist discovery (`mongodb+srv`) found records that break the spec.
    #[error("mongodb+srv: {rule}")]
    Srv {
        /// The rule that was broken.
        rule: String,
    },
}

impl Error {
    pub(crate) fn option(option: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidOption {
            option: option.into(),
            rule: rule.into(),
        }
    }

    pub(crate) fn credential(mechanism: impl fmt::Display, rule: impl Into<String>) -> Self {
        Error::InvalidCredential {
            mechanism: mechanism.to_string(),
            rule: rule.into(),
        }
    }

    pub(crate) fn srv(rule: impl Into<String>) -> Self {
        Error::Srv { rule: rule.into() }
    }
}
