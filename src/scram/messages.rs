//! Parsing of the two SCRAM messages a server sends (RFC 5802 section 7), strictly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::ScramError;

/// The minimum iteration count the auth spec allows (rule G8).
pub const MIN_ITERATIONS: u32 = 4096;

/// A parsed server-first-message.
#[derive(Debug)]
pub(crate) struct ServerFirstMessage<'a> {
    /// The combined nonce (client nonce + server part).
    pub(crate) nonce: &'a str,
    pub(crate) salt: Vec<u8>,
    pub(crate) iterations: u32,
}

/// A parsed server-final-message.
#[derive(Debug)]
pub(crate) enum ServerFinalMessage {
    /// `v=`: the server signature.
    Verifier(Vec<u8>),
    /// `e=`: the server's error.
    Error(String),
}

/// Splits `a=x,b=y` into attributes. Every attribute is one ASCII letter, `=`, and a value.
fn attributes(message: &[u8]) -> Result<Vec<(char, &str)>, ScramError> {
    let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    if text.is_empty() {
        return Err(ScramError::Malformed("empty message"));
    }
    text.split(',')
        .map(|attribute| {
            let mut chars = attribute.chars();
            match (chars.next(), chars.next()) {
                (Some(name), Some('=')) if name.is_ascii_alphabetic() => Ok((name, chars.as_str())),
                _ => Err(ScramError::Malformed("an attribute is not `x=value`")),
            }
        })
        .collect()
}

/// The first value of an attribute; a repeated attribute is malformed.
fn single<'a>(attrs: &[(char, &'a str)], name: char) -> Result<Option<&'a str>, ScramError> {
    let mut values = attrs.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
    let first = values.next();
    if values.next().is_some() {
        return Err(ScramError::Malformed("an attribute is repeated"));
    }
    Ok(first)
}

/// `[m=ext,]r=nonce,s=salt,i=count[,ext...]`, checked against the client nonce and the limits
/// (rules G7, G8, G13).
pub(crate) fn parse_server_first<'a>(
    message: &'a [u8],
    client_nonce: &str,
    max_iterations: u32,
) -> Result<ServerFirstMessage<'a>, ScramError> {
    let attrs = attributes(message)?;
    if attrs.first().is_some_and(|(name, _)| *name == 'm') {
        return Err(ScramError::MandatoryExtension);
    }
    let nonce = single(&attrs, 'r')?.ok_or(ScramError::MissingAttribute('r'))?;
    let salt = single(&attrs, 's')?.ok_or(ScramError::MissingAttribute('s'))?;
    let iterations = single(&attrs, 'i')?.ok_or(ScramError::MissingAttribute('i'))?;

    let server_part = nonce
        .strip_prefix(client_nonce)
        .ok_or(ScramError::NonceMismatch)?;
    if server_part.is_empty() {
        return Err(ScramError::EmptyServerNonce);
    }
    if !super::is_printable(server_part) {
        return Err(ScramError::Malformed(
            "the nonce has a character that is not printable ASCII",
        ));
    }
    let salt = BASE64
        .decode(salt)
        .map_err(|_| ScramError::InvalidBase64('s'))?;
    if salt.is_empty() {
        return Err(ScramError::EmptySalt);
    }
    if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScramError::InvalidIterationCount);
    }
    // All digits: a parse failure can only be an overflow, which is above any ceiling.
    let iterations = iterations.parse::<u32>().unwrap_or(u32::MAX);
    if iterations < MIN_ITERATIONS {
        return Err(ScramError::IterationCountTooLow {
            count: iterations,
            minimum: MIN_ITERATIONS,
        });
    }
    if iterations > max_iterations {
        return Err(ScramError::IterationCountTooHigh {
            count: iterations,
            maximum: max_iterations,
        });
    }
    Ok(ServerFirstMessage {
        nonce,
        salt,
        iterations,
    })
}

/// `v=signature[,ext...]` or `e=reason[,ext...]` (rule G9).
pub(crate) fn parse_server_final(message: &[u8]) -> Result<ServerFinalMessage, ScramError> {
    let attrs = attributes(message)?;
    match attrs.first() {
        Some(('e', reason)) => Ok(ServerFinalMessage::Error((*reason).to_owned())),
        Some(('v', signature)) => BASE64
            .decode(signature)
            .map(ServerFinalMessage::Verifier)
            .map_err(|_| ScramError::InvalidBase64('v')),
        _ => Err(ScramError::MissingAttribute('v')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";

    fn first(message: &str) -> Result<ServerFirstMessage<'_>, ScramError> {
        parse_server_first(message.as_bytes(), NONCE, 1_000_000)
    }

    #[test]
    fn accepts_the_spec_vector() {
        let m = first("r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000").unwrap();
        assert_eq!(m.iterations, 10000);
        assert_eq!(m.salt.len(), 16);
    }

    #[test]
    fn each_malformed_server_first_has_its_own_error() {
        let ok_nonce = "r=fyko+d2lbbFgONRv9qkxdawLXYZ";
        let cases: &[(String, ScramError)] = &[
            (
                format!("m=ext,{ok_nonce},s=QQ==,i=4096"),
                ScramError::MandatoryExtension,
            ),
            ("s=QQ==,i=4096".into(), ScramError::MissingAttribute('r')),
            (
                format!("{ok_nonce},i=4096"),
                ScramError::MissingAttribute('s'),
            ),
            (
                format!("{ok_nonce},s=QQ=="),
                ScramError::MissingAttribute('i'),
            ),
            (
                format!("{ok_nonce},s=!!,i=4096"),
                ScramError::InvalidBase64('s'),
            ),
            (format!("{ok_nonce},s=,i=4096"), ScramError::EmptySalt),
            (
                format!("{ok_nonce},s=QQ==,i=abc"),
                ScramError::InvalidIterationCount,
            ),
            (
                format!("{ok_nonce},s=QQ==,i=-4096"),
                ScramError::InvalidIterationCount,
            ),
            (
                format!("{ok_nonce},s=QQ==,i="),
                ScramError::InvalidIterationCount,
            ),
            (
                format!("{ok_nonce},s=QQ==,i=4095"),
                ScramError::IterationCountTooLow {
                    count: 4095,
                    minimum: 4096,
                },
            ),
            (
                format!("{ok_nonce},s=QQ==,i=1000001"),
                ScramError::IterationCountTooHigh {
                    count: 1_000_001,
                    maximum: 1_000_000,
                },
            ),
            (
                format!("{ok_nonce},s=QQ==,i=99999999999999999999"),
                ScramError::IterationCountTooHigh {
                    count: u32::MAX,
                    maximum: 1_000_000,
                },
            ),
            (
                "r=someoneelse,s=QQ==,i=4096".into(),
                ScramError::NonceMismatch,
            ),
            (
                format!("r={NONCE},s=QQ==,i=4096"),
                ScramError::EmptyServerNonce,
            ),
            ("".into(), ScramError::Malformed("empty message")),
            (
                "garbage".into(),
                ScramError::Malformed("an attribute is not `x=value`"),
            ),
            (
                format!("{ok_nonce},{ok_nonce},s=QQ==,i=4096"),
                ScramError::Malformed("an attribute is repeated"),
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(first(message).unwrap_err(), *expected, "{message}");
        }
        assert_eq!(
            parse_server_first(b"\xff", NONCE, 10).unwrap_err(),
            ScramError::Malformed("not UTF-8")
        );
    }

    #[test]
    fn extensions_after_the_count_are_ignored() {
        assert!(first("r=fyko+d2lbbFgONRv9qkxdawLX,s=QQ==,i=4096,x=ext").is_ok());
    }

    #[test]
    fn server_final() {
        assert!(
            matches!(parse_server_final(b"v=AAAA"), Ok(ServerFinalMessage::Verifier(v)) if v == [0, 0, 0])
        );
        assert!(
            matches!(parse_server_final(b"e=invalid-proof"), Ok(ServerFinalMessage::Error(e)) if e == "invalid-proof")
        );
        assert_eq!(
            parse_server_final(b"v=***").unwrap_err(),
            ScramError::InvalidBase64('v')
        );
        assert_eq!(
            parse_server_final(b"x=1").unwrap_err(),
            ScramError::MissingAttribute('v')
        );
        assert!(parse_server_final(b"").is_err());
    }
}
