//! A string that must never be printed and must not outlive its use in memory.

use std::fmt;

use zeroize::Zeroizing;

/// What [`Secret`]'s `Debug` and `Display` print instead of the value.
pub const REDACTED: &str = "<redacted>";

/// A password, secret key or token.
///
/// * The bytes are overwritten with zeros when the value is dropped (and when a clone is dropped).
/// * `Debug` and `Display` print [`REDACTED`], whatever the value, so a secret cannot leak through
///   logging or `{:?}` of a larger structure.
/// * Equality is checked in constant time.
///
/// ```
/// use mongodb_auth::Secret;
///
/// let password = Secret::new("pencil");
/// assert_eq!(format!("{password:?}"), "<redacted>");
/// assert_eq!(password.expose(), "pencil");
/// ```
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value. The caller's `String` is moved, not copied, so no unzeroized copy is left.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The value itself. Call it only where the value is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

/// Compares two byte strings without an early exit on the first difference, so the time taken
/// tells an observer nothing about where they differ (only whether the lengths differ).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// Bytes that hold a secret (a request body, a token cache), written into one buffer of their
/// final size and wiped when dropped: a buffer grown while writing leaves copies of what it held
/// behind each time it moves.
///
/// `write` runs twice, first to count the bytes and then to write them, so it must write the
/// same bytes both times; an error from either run is returned.
///
/// ```
/// use std::io::Write as _;
///
/// let body = mongodb_auth::write_at_final_size(|out| {
///     out.write_all(b"refresh_token=")?;
///     out.write_all("rt-5f2a".as_bytes())
/// })?;
/// assert_eq!(&body[..], b"refresh_token=rt-5f2a");
/// assert_eq!(body.capacity(), body.len());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_at_final_size(
    write: impl Fn(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut size = ByteCount(0);
    write(&mut size)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(size.0));
    write(&mut *bytes)?;
    Ok(bytes)
}

/// Text that holds a secret (a connection string with its password), written into one
/// `String` of its final size and wiped when dropped, as [`write_at_final_size`] writes bytes:
/// `write` runs twice and must write the same text both times. Writing into a `String` fails
/// only where `write` itself fails; what it wrote is kept.
pub(crate) fn text_at_final_size(
    write: impl Fn(&mut dyn fmt::Write) -> fmt::Result,
) -> Zeroizing<String> {
    let mut size = ByteCount(0);
    let _ = write(&mut size);
    let mut text = Zeroizing::new(String::with_capacity(size.0));
    let _ = write(&mut *text);
    text
}

/// `bytes` as text, each run that is not UTF-8 replaced by U+FFFD as
/// [`String::from_utf8_lossy`] does, but in one buffer of its final size that is wiped when
/// dropped: `from_utf8_lossy` copies text that is not UTF-8 into a `String` of its own.
#[cfg(any(feature = "aws", feature = "oidc"))]
pub(crate) fn lossy_secret_text(bytes: &[u8]) -> Zeroizing<String> {
    text_at_final_size(|out| {
        for chunk in bytes.utf8_chunks() {
            out.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                out.write_char(char::REPLACEMENT_CHARACTER)?;
            }
        }
        Ok(())
    })
}

/// Bytes that may hold a secret (a request with a password in it), wiped when dropped as
/// `Zeroizing<Vec<u8>>` wipes them (the whole allocation), but in one bulk write (zeroize 1.9's
/// for a slice): `Zeroizing<Vec<u8>>` writes a vector's zeros one volatile byte at a time, and on
/// the embedded server's request path, where every request is wiped, those writes were a tenth of
/// what a SCRAM login cost beyond a bare connection.
#[derive(Clone, Default)]
pub(crate) struct WipedBytes(Vec<u8>);

impl WipedBytes {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        WipedBytes(Vec::with_capacity(capacity))
    }

    /// The vector, to write to. A write that outgrows the capacity leaves the old allocation
    /// unwiped: grow by moving into a larger one instead.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    pub(crate) fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// The vector, wiped when dropped as `Zeroizing` wipes it.
    pub(crate) fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut self.0))
    }
}

impl From<Vec<u8>> for WipedBytes {
    fn from(bytes: Vec<u8>) -> Self {
        WipedBytes(bytes)
    }
}

impl std::ops::Deref for WipedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for WipedBytes {
    fn drop(&mut self) {
        self.0.clear();
        zeroize::Zeroize::zeroize(self.0.spare_capacity_mut());
    }
}

impl zeroize::ZeroizeOnDrop for WipedBytes {}

/// Counts what is written, to size a buffer before writing into it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(bytes.len());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for ByteCount {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(text.len());
        Ok(())
    }
}

/// A parsed JSON document that may hold tokens or keys: a provider's token reply, an AWS
/// credentials object, an SSO token file. Its [`Zeroize`] overwrites every string in the tree, so
/// the `Zeroizing<SecretJson>` that [`SecretJson::parse`] returns leaves no copy of them behind
/// when it is dropped, whichever field the reader took and whichever it refused. The bytes it was
/// parsed from are the caller's to wipe. Not wiped: serde_json's own scratch buffer, which holds
/// only strings written with escapes, and the part-built tree of a document that breaks off
/// halfway.
#[cfg(any(feature = "aws", feature = "oidc"))]
pub(crate) struct SecretJson(serde_json::Value);

#[cfg(any(feature = "aws", feature = "oidc"))]
impl SecretJson {
    /// The document, or `None` if `bytes` are not one JSON document (with whitespace around).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Zeroizing<Self>> {
        let mut documents =
            serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
        // Held wiped before what follows it is checked: a reply with text after its JSON (a
        // process that also prints a log line) is refused, and its tree wiped all the same.
        let json = Zeroizing::new(SecretJson(documents.next()?.ok()?));
        let rest = bytes.get(documents.byte_offset()..).unwrap_or_default();
        rest.iter()
            .all(|b| matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
            .then_some(json)
    }
}

#[cfg(any(feature = "aws", feature = "oidc"))]
impl std::ops::Deref for SecretJson {
    type Target = serde_json::Value;

    fn deref(&self) -> &serde_json::Value {
        &self.0
    }
}

#[cfg(any(feature = "aws", feature = "oidc"))]
impl zeroize::Zeroize for SecretJson {
    fn zeroize(&mut self) {
        // serde_json refuses documents nested deeper than 128, so the recursion is bounded.
        fn wipe(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::String(text) => zeroize::Zeroize::zeroize(text),
                serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
                serde_json::Value::Object(fields) => fields.values_mut().for_each(wipe),
                serde_json::Value::Null
                | serde_json::Value::Bool(_)
                | serde_json::Value::Number(_) => {}
            }
        }
        wipe(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(
            format!("{:?}", Some(s.clone())),
            format!("Some({REDACTED})")
        );
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }

    #[cfg(any(feature = "aws", feature = "oidc"))]
    #[test]
    fn a_json_document_wipes_every_string_in_it() {
        let mut json = SecretJson::parse(
            br#" {"access_token": "at", "nested": {"refresh_token": "rt", "list": ["a", {"b": "c"}, 5]},
                "expires_in": 3600, "ok": true, "none": null}
            "#,
        )
        .unwrap();
        for not_one_document in [&b"{} log line"[..], b"{}{}", b"", b" ", b"{", b"{}\x0c"] {
            assert!(
                SecretJson::parse(not_one_document).is_none(),
                "{not_one_document:?}"
            );
        }
        assert_eq!(json["nested"]["list"][1]["b"], "c");
        zeroize::Zeroize::zeroize(&mut *json);
        fn strings(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::String(text) => found.push(text.clone()),
                serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, found)),
                serde_json::Value::Object(fields) => {
                    fields.values().for_each(|v| strings(v, found))
                }
                _ => {}
            }
        }
        let mut found = Vec::new();
        strings(&json, &mut found);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().all(String::is_empty), "{found:?}");
        // Field names and numbers say nothing secret and stay.
        assert_eq!(json["expires_in"], 3600);
    }

    #[cfg(any(feature = "aws", feature = "oidc"))]
    #[test]
    fn lossy_secret_text_reads_as_from_utf8_lossy_at_its_final_size() {
        for bytes in [
            &b"AKID:secret"[..],
            b"",
            b"\xff",
            b"key=\xc3\x28tail",
            b"\xe2\x82 mid \xf0\x9f\x92\x96 end \xf0\x9f",
        ] {
            let text = lossy_secret_text(bytes);
            assert_eq!(*text, String::from_utf8_lossy(bytes), "{bytes:?}");
            assert_eq!(text.capacity(), text.len(), "{bytes:?}");
        }
    }
}
