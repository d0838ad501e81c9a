//! Strict percent-decoding (a connection string's components), the lenient decoding of form
//! values (an OIDC redirect's parameters), and the encoding the printer uses.
//!
//! The `percent-encoding` crate decodes leniently (a stray `%` passes through), but the
//! connection-string spec requires an error for a `%` not followed by two hex digits, so the
//! escapes are checked here before the crate decodes them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

/// Everything but RFC 3986 "unreserved" characters is escaped, so a printed component never
/// contains a delimiter of any part of the connection string.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a component could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl DecodeError {
    pub(crate) fn rule(self) -> &'static str {
        match self {
            DecodeError::BadEscape => "a `%` must be followed by two hex digits",
            DecodeError::NotUtf8 => "the percent-decoded bytes are not UTF-8",
        }
    }
}

/// Checks that every `%` starts a valid escape.
pub(crate) fn check_escapes(s: &str) -> Result<(), DecodeError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(DecodeError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Decodes once, strictly, into a string made at its final size: a component may be a
/// password, and a buffer that grows while decoding leaves copies of it behind, unwiped.
pub(crate) fn decode(s: &str) -> Result<String, DecodeError> {
    check_escapes(s)?;
    into_text(decoded_bytes(s, false))
}

#[cfg(feature = "oidc")]
/// A value of an `application/x-www-form-urlencoded` query read as `form_urlencoded` reads it
/// (`+` a space, `%XX` a byte, a `%` without two hex digits kept), into a string made at its
/// final size, as [`decode`] does: the value may be a secret (an OAuth authorization code), and
/// `form_urlencoded` copies as it decodes. Bytes that are not UTF-8 are refused.
pub(crate) fn decode_form(s: &str) -> Result<String, DecodeError> {
    into_text(decoded_bytes(s, true))
}

#[cfg(feature = "oidc")]
/// [`decode_form`], with what is not UTF-8 replaced by U+FFFD as `form_urlencoded` replaces it.
pub(crate) fn decode_form_lossy(s: &str) -> Zeroizing<String> {
    crate::secret::lossy_secret_text(&decoded_bytes(s, true))
}

/// The bytes `s` percent-decodes to (`+` as a space where forms are read), in a buffer reserved
/// once and wiped when dropped.
fn decoded_bytes(s: &str, plus_is_space: bool) -> Zeroizing<Vec<u8>> {
    // Decoding never lengthens: room for `s` is room enough, and the buffer never moves.
    let mut bytes = Zeroizing::new(Vec::with_capacity(s.len()));
    if plus_is_space {
        for (i, part) in s.split('+').enumerate() {
            if i > 0 {
                bytes.push(b' ');
            }
            bytes.extend(percent_decode_str(part));
        }
    } else {
        bytes.extend(percent_decode_str(s));
    }
    bytes
}

/// The bytes moved into a `String` once checked to be UTF-8, so that the `Err` that would hand
/// them back unwiped never comes.
fn into_text(mut bytes: Zeroizing<Vec<u8>>) -> Result<String, DecodeError> {
    if std::str::from_utf8(&bytes).is_err() {
        return Err(DecodeError::NotUtf8);
    }
    String::from_utf8(std::mem::take(&mut *bytes)).map_err(|_| DecodeError::NotUtf8)
}

/// Encodes a component for printing.
pub(crate) fn encode(s: &str) -> String {
    encoded(s).to_string()
}

/// A component as it is printed, written out as it is displayed (no `String` of its own: it
/// may be a password).
pub(crate) fn encoded(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, COMPONENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_escapes() {
        for bad in ["%", "%4", "a%zz", "%g0", "user%20%", "100%"] {
            assert_eq!(decode(bad), Err(DecodeError::BadEscape), "{bad}");
        }
        assert_eq!(decode("%FF"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn decodes_once() {
        assert_eq!(decode("abcd%25ef%3Ag%26hi").unwrap(), "abcd%ef:g&hi");
        assert_eq!(decode("%E2%85%A8").unwrap(), "\u{2168}");
    }

    #[cfg(feature = "oidc")]
    #[test]
    fn form_values_are_decoded_as_form_urlencoded_decodes_them() {
        for raw in [
            "a%2Bb",
            "a+b",
            "%",
            "%z",
            "%zz",
            "1%",
            "%e2%82%ac+x",
            "plain",
            "",
            "++",
            "%ff+a%C3",
        ] {
            let query = format!("v={raw}");
            let (_, theirs) = form_urlencoded::parse(query.as_bytes()).next().unwrap();
            let lossy = decode_form_lossy(raw);
            assert_eq!(lossy.as_str(), theirs, "{raw}");
            match decode_form(raw) {
                Ok(strict) => {
                    assert_eq!(strict, theirs, "{raw}");
                    assert!(strict.capacity() <= raw.len().max(1), "{raw}");
                }
                // Refused only where form_urlencoded had to replace something.
                Err(refusal) => {
                    assert_eq!(refusal, DecodeError::NotUtf8, "{raw}");
                    assert!(theirs.contains(char::REPLACEMENT_CHARACTER), "{raw}");
                }
            }
        }
        assert_eq!(decode_form("%ff"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let s = "a b/c?d#e[f]g@h:i,j=k&l%m+n\u{2168}";
        assert_eq!(decode(&encode(s)).unwrap(), s);
        assert!(
            encode(s)
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~%".contains(c))
        );
    }
}
