//! PLAIN (RFC 4616), used by MongoDB for LDAP proxy authentication: one `saslStart` whose payload
//! is `[authzid] NUL username NUL password` (rule I1). The client sends no authzid.

use zeroize::Zeroizing;

use crate::secret::Secret;

/// The PLAIN payload for `username` and `password`. It holds the password, so it is wiped when
/// dropped.
///
/// ```
/// use mongodb_auth::{plain, Secret};
///
/// assert_eq!(&*plain::payload("user", &Secret::new("pencil")), b"\0user\0pencil");
/// ```
pub fn payload(username: &str, password: &Secret) -> Zeroizing<Vec<u8>> {
    let mut payload = Zeroizing::new(Vec::with_capacity(
        2 + username.len() + password.expose().len(),
    ));
    payload.push(0);
    payload.extend_from_slice(username.as_bytes());
    payload.push(0);
    payload.extend_from_slice(password.expose().as_bytes());
    payload
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    use super::*;

    #[test]
    fn spec_vector() {
        assert_eq!(
            BASE64.encode(&*payload("user", &Secret::new("pencil"))),
            "AHVzZXIAcGVuY2ls"
        );
    }
}
