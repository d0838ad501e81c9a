//! The server side of MONGODB-X509, as mongod answers `authenticate`: the user is the subject of
//! the client certificate the TLS layer verified; a `user` that differs from it, a connection
//! without a verified certificate, another database than `$external` and an unknown subject are
//! each refused with AuthenticationFailed (the reason goes to the auth log only). It is one
//! command, not a SASL conversation.

use bson::{RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};

use super::session::SessionConfig;
use crate::x509::MECHANISM;

/// Why `authenticate` did not log the client in.
pub(crate) enum Refused {
    /// The command itself is wrong: this reply says how.
    Reply(RawDocumentBuf),
    /// The login is refused: the claimed user and the reason, for the log.
    Login { user: String, reason: &'static str },
}

/// The subject `authenticate` logs in, or why not.
pub(crate) fn authenticate(
    config: &SessionConfig,
    client_subject: Option<&str>,
    db: &str,
    doc: &RawDocument,
) -> Result<String, Refused> {
    let mechanism = match doc.get("mechanism") {
        Ok(Some(RawBsonRef::String(m))) => m,
        _ => {
            return Err(Refused::Reply(rawdoc! {
                "ok": 0.0, "errmsg": "authenticate needs a mechanism", "code": 2, "codeName": "BadValue",
            }));
        }
    };
    if mechanism != MECHANISM {
        return Err(Refused::Reply(rawdoc! {
            "ok": 0.0,
            "errmsg": format!("Received authentication for mechanism {mechanism} which is not enabled"),
            "code": 334,
            "codeName": "MechanismUnavailable",
        }));
    }
    let claimed = match doc.get("user") {
        Ok(Some(RawBsonRef::String(user))) => Some(user),
        _ => None,
    };
    let refuse = |reason| Refused::Login {
        user: claimed.unwrap_or_default().to_owned(),
        reason,
    };
    if db != "$external" {
        return Err(refuse("X.509 logins are in $external"));
    }
    let Some(subject) = client_subject else {
        return Err(refuse("no verified client certificate"));
    };
    if claimed.is_some_and(|user| user != subject) {
        return Err(refuse("the user is not the certificate's subject"));
    }
    if !config.users.is_x509_user(subject) {
        return Err(Refused::Login {
            user: subject.to_owned(),
            reason: "unknown certificate subject",
        });
    }
    Ok(subject.to_owned())
}
