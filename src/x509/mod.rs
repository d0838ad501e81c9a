//! MONGODB-X509: the TLS client certificate is the identity; the conversation is one
//! `authenticate` command to `$external` (rules H1-H3). The certificate itself belongs to the
//! TLS layer of the adapters; with feature `x509-subject`, `certificate_subject` derives the user name
//! from it as the server does.

use bson::{RawDocumentBuf, rawdoc};

#[cfg(feature = "x509-subject")]
mod subject;
#[cfg(feature = "x509-subject")]
pub use subject::{certificate_issuer, certificate_subject, certificate_validity};

/// The mechanism name on the wire.
pub const MECHANISM: &str = "MONGODB-X509";

/// `{authenticate: 1, mechanism: "MONGODB-X509"}`, with `user` only when a username (the RFC 2253
/// subject of the certificate) was given: the server then derives it from the certificate.
pub(crate) fn authenticate_command(username: Option<&str>) -> RawDocumentBuf {
    let mut command = rawdoc! { "authenticate": 1, "mechanism": MECHANISM };
    if let Some(user) = username {
        command.append(bson::raw::cstr!("user"), user);
    }
    command
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn user_only_when_given() {
        let without = bson::Document::try_from(authenticate_command(None)).unwrap();
        assert_eq!(
            without,
            doc! { "authenticate": 1, "mechanism": "MONGODB-X509" }
        );
        let subject = "C=IS,ST=Reykjavik,L=Reykjavik,O=MongoDB,OU=Drivers,CN=client";
        let with = bson::Document::try_from(authenticate_command(Some(subject))).unwrap();
        assert_eq!(
            with,
            doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "user": subject }
        );
    }
}
