//! The MongoDB wire protocol, as far as authentication needs it: OP_MSG for commands (the
//! handshake's too), and OP_QUERY / OP_REPLY for the legacy `isMaster` that opened connections
//! before June 2026's handshake specification, for servers and proxies that read no OP_MSG.
//!
//! Encoding turns a [`Command`] into bytes; [`ReplyDecoder`] takes the incoming bytes in any
//! chunking and yields whole, validated replies. Neither does I/O.
//!
//! ```
//! use mongodb_auth::wire::{self, ReplyDecoder};
//! use mongodb_auth::Command;
//!
//! let ping = Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
//! let request = wire::encode_command(&ping, 7)?;
//! assert_eq!(&request[12..16], &2013i32.to_le_bytes()); // OP_MSG
//!
//! // A server's reply, fed one byte at a time.
//! let reply = wire::encode_reply(&bson::rawdoc! { "ok": 1.0 }.into_bytes(), 99, 7)?;
//! let mut decoder = ReplyDecoder::new(7);
//! let mut decoded = None;
//! for byte in reply.iter() {
//!     decoded = decoder.push(std::slice::from_ref(byte))?.or(decoded);
//! }
//! assert_eq!(decoded.unwrap().body(), bson::rawdoc! { "ok": 1.0 }.as_bytes());
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

use bson::raw::cstr;
use bson::{RawDocument, RawDocumentBuf};
use zeroize::Zeroizing;

use std::ops::Range;

use crate::command::{Command, GenericArguments, array_element_len, document_with_capacity};
use crate::error::{Error, Result, WireError};
use crate::secret::WipedBytes;

/// OP_REPLY: the reply to an OP_QUERY.
pub const OP_REPLY: i32 = 1;
/// OP_QUERY: only used for the legacy `isMaster` handshake.
pub const OP_QUERY: i32 = 2004;
/// OP_MSG: every command since MongoDB 3.6.
pub const OP_MSG: i32 = 2013;

/// The size of the standard message header.
pub const HEADER_LEN: usize = 16;

/// The largest message a server sends by default (`maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;

const FLAG_CHECKSUM_PRESENT: u32 = 1;
const FLAG_MORE_TO_COME: u32 = 1 << 1;
const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;
/// Bits 0-15 of OP_MSG flags are "required": a reader must fail on one it does not know.
const REQUIRED_FLAGS: u32 = 0xFFFF;
const KNOWN_REQUIRED_FLAGS: u32 = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME;

/// One decoded message.
#[derive(Clone)]
pub struct Message {
    /// The sender's id for this message.
    pub request_id: i32,
    /// The id of the request this answers (0 for a request).
    pub response_to: i32,
    /// [`OP_MSG`], [`OP_REPLY`] or [`OP_QUERY`].
    pub op_code: i32,
    /// OP_MSG `moreToCome`: the sender will send more without being asked.
    pub more_to_come: bool,
    /// OP_MSG `exhaustAllowed`: the client takes a stream of replies (`moreToCome`) to this
    /// request, as a driver's monitor does with an awaitable `hello`.
    pub exhaust_allowed: bool,
    /// For OP_QUERY, the full collection name (`admin.$cmd` for a command).
    pub collection: Option<String>,
    /// The message as it came, or for an OP_MSG with document sequences the body they make:
    /// kept rather than the body copied out of it, and wiped when dropped, since a request may
    /// carry a password (PLAIN).
    bytes: WipedBytes,
    /// Where the body is in `bytes`.
    body: Range<usize>,
}

impl Message {
    /// The body document (OP_MSG section 0, the first OP_REPLY document, the OP_QUERY query), as
    /// BSON bytes already checked to be a well-framed document.
    pub fn body(&self) -> &[u8] {
        self.bytes.get(self.body.clone()).unwrap_or_default()
    }

    /// The body, owned (and still wiped when dropped).
    pub fn into_body(mut self) -> Zeroizing<Vec<u8>> {
        let body = std::mem::take(&mut self.bytes);
        let mut body = body.into_zeroizing();
        // What comes after the body is cut off and what comes before it moved over; the bytes
        // left in the spare room are wiped with the rest when the body is dropped.
        body.truncate(self.body.end);
        let start = self.body.start.min(body.len());
        body.drain(..start);
        body
    }
}

/// Messages are equal when their fields and bodies are, whatever else their bytes hold.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        // Every field named, so one added later is not left out of the comparison unnoticed.
        let Message {
            request_id,
            response_to,
            op_code,
            more_to_come,
            exhaust_allowed,
            collection,
            bytes: _,
            body: _,
        } = self;
        (
            *request_id,
            *response_to,
            *op_code,
            *more_to_come,
            *exhaust_allowed,
            collection,
            self.body(),
        ) == (
            other.request_id,
            other.response_to,
            other.op_code,
            other.more_to_come,
            other.exhaust_allowed,
            &other.collection,
            other.body(),
        )
    }
}

impl Eq for Message {}

impl std::fmt::Debug for Message {
    /// Bodies may hold authentication payloads: only their size is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("request_id", &self.request_id)
            .field("response_to", &self.response_to)
            .field("op_code", &self.op_code)
            .field("body_len", &self.body().len())
            .finish()
    }
}

/// A reply from a server.
pub type Reply = Message;

fn header(out: &mut Zeroizing<Vec<u8>>, request_id: i32, response_to: i32, op_code: i32) {
    out.extend_from_slice(&0i32.to_le_bytes()); // length, patched by `finish`
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
}

fn finish(mut out: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>> {
    if out.len() > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge {
            length: out.len() as i64,
            limit: MAX_MESSAGE_SIZE,
        }
        .into());
    }
    // At most 48 MB, so it fits an i32.
    let length = (out.len() as i32).to_le_bytes();
    if let Some(slot) = out.get_mut(..4) {
        slot.copy_from_slice(&length);
    }
    Ok(out)
}

/// Checks the framing of a document and that every top-level key is UTF-8 (values are checked
/// where they are read).
fn document(bytes: &[u8]) -> Result<&RawDocument> {
    document_with_keys(bytes, |_| {})
}

/// Checks the framing of a document only: its length and its terminator. What this crate sends
/// as it was built (a reply, a command with `$db` appended) has its keys checked as they were
/// appended, by bson's builders or by [`encode_command`]; the peer checks them again.
fn framed(bytes: &[u8]) -> Result<&RawDocument> {
    RawDocument::from_bytes(bytes)
        .map_err(|_| WireError::Malformed("a document is not valid BSON").into())
}

/// [`document`], showing each top-level key to `key` in the same pass.
fn document_with_keys(bytes: &[u8], mut key: impl FnMut(&str)) -> Result<&RawDocument> {
    let doc = RawDocument::from_bytes(bytes)
        .map_err(|_| WireError::Malformed("a document is not valid BSON"))?;
    // Elements, not values: `iter` would parse every value too.
    for element in doc.iter_elements() {
        match element {
            Ok(element) => key(element.key().as_str()),
            Err(e) => {
                return Err(match e.kind {
                    bson::error::ErrorKind::Utf8Encoding { .. } => WireError::InvalidUtf8Key,
                    _ => WireError::Malformed("a document is not valid BSON"),
                }
                .into());
            }
        }
    }
    Ok(doc)
}

/// An OP_MSG carrying `command` with `$db` appended. The bytes are wiped when dropped: the
/// command may hold a password.
pub fn encode_command(command: &Command, request_id: i32) -> Result<Zeroizing<Vec<u8>>> {
    encode_command_with(command, request_id, &GenericArguments::new())
}

/// [`encode_command`] with `arguments` appended before `$db`: the options that declare a stable
/// API version (`apiVersion`, and `apiStrict` and `apiDeprecationErrors` when set), as the
/// stable API specification requires of every command, and `maxTimeMS`. A body that names
/// them itself is not looked into: the specifications leave that case undefined (mongod refuses
/// the duplicate; the embedded server reads the first).
pub fn encode_command_with(
    command: &Command,
    request_id: i32,
    arguments: &GenericArguments,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut has_db = false;
    document_with_keys(command.body(), |key| has_db |= key == "$db")?;
    if has_db {
        return Err(WireError::CommandHasDb.into());
    }
    // The body as it is, then the arguments and `$db`; with room for them up front, so the
    // copy of the body is never reallocated (and left behind).
    let room = command.body().len() + command.db().len() + 16 + arguments.encoded_len();
    let mut with_db = Vec::with_capacity(room);
    with_db.extend_from_slice(command.body());
    let mut with_db = RawDocumentBuf::from_bytes(with_db)
        .map_err(|_| WireError::Malformed("a document is not valid BSON"))?;
    arguments.append_to(&mut with_db);
    with_db.append(cstr!("$db"), command.db());
    let with_db = Zeroizing::new(with_db.into_bytes());
    encode_op_msg(&with_db, request_id, 0, 0)
}

/// An OP_MSG whose body is `document` as given: a command whose keys were checked, or a reply
/// (see [`framed`]).
fn encode_op_msg(
    document_bytes: &[u8],
    request_id: i32,
    response_to: i32,
    flags: u32,
) -> Result<Zeroizing<Vec<u8>>> {
    framed(document_bytes)?;
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + 5 + document_bytes.len()));
    header(&mut out, request_id, response_to, OP_MSG);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0); // section kind 0: the body
    out.extend_from_slice(document_bytes);
    finish(out)
}

/// The reply a server sends to an OP_MSG request. Only the document's framing is checked, not
/// its keys: a reply is built with bson's builders, which check each key as it is appended.
pub fn encode_reply(
    document_bytes: &[u8],
    request_id: i32,
    response_to: i32,
) -> Result<Zeroizing<Vec<u8>>> {
    encode_op_msg(document_bytes, request_id, response_to, 0)
}

/// One reply of a stream to an exhaust request (`moreToCome` set): the first answers the
/// request, each next one the reply before it. Checked as [`encode_reply`] checks.
pub fn encode_streamed_reply(
    document_bytes: &[u8],
    request_id: i32,
    response_to: i32,
) -> Result<Zeroizing<Vec<u8>>> {
    encode_op_msg(document_bytes, request_id, response_to, FLAG_MORE_TO_COME)
}

/// The legacy opening of a connection: `hello_document` (normally `{isMaster: 1, helloOk: true,
/// ...}`) as an OP_QUERY against `admin.$cmd`.
pub(crate) fn encode_legacy_hello(
    hello_document: &[u8],
    request_id: i32,
) -> Result<Zeroizing<Vec<u8>>> {
    document(hello_document)?;
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + 20 + hello_document.len()));
    header(&mut out, request_id, 0, OP_QUERY);
    out.extend_from_slice(&0i32.to_le_bytes()); // flags
    out.extend_from_slice(b"admin.$cmd\0");
    out.extend_from_slice(&0i32.to_le_bytes()); // numberToSkip
    out.extend_from_slice(&(-1i32).to_le_bytes()); // numberToReturn: one document, close cursor
    out.extend_from_slice(hello_document);
    finish(out)
}

/// The OP_REPLY a server sends to an OP_QUERY. Checked as [`encode_reply`] checks.
pub fn encode_legacy_reply(
    document_bytes: &[u8],
    request_id: i32,
    response_to: i32,
) -> Result<Zeroizing<Vec<u8>>> {
    framed(document_bytes)?;
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + 20 + document_bytes.len()));
    header(&mut out, request_id, response_to, OP_REPLY);
    out.extend_from_slice(&8i32.to_le_bytes()); // responseFlags: AwaitCapable
    out.extend_from_slice(&0i64.to_le_bytes()); // cursorID
    out.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
    out.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
    out.extend_from_slice(document_bytes);
    finish(out)
}

/// Reassembles messages from a byte stream and validates them. Used directly to read requests
/// (a server), and through [`ReplyDecoder`] to read replies.
pub struct MessageDecoder {
    /// May hold a password in transit (a PLAIN `saslStart`): wiped when dropped.
    buffer: WipedBytes,
    accepted: &'static [i32],
    response_to: Option<i32>,
    max_size: usize,
    /// Replies may not set `moreToCome`; requests may (fire-and-forget).
    allow_more_to_come: bool,
}

impl MessageDecoder {
    /// A decoder of requests (OP_MSG and OP_QUERY), as a server reads them.
    pub fn requests() -> Self {
        MessageDecoder {
            buffer: WipedBytes::default(),
            accepted: &[OP_MSG, OP_QUERY],
            response_to: None,
            max_size: MAX_MESSAGE_SIZE,
            allow_more_to_come: true,
        }
    }

    /// Lowers the size limit (default [`MAX_MESSAGE_SIZE`]). A limit below the header size is
    /// raised to it: no message is shorter.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size.clamp(HEADER_LEN, MAX_MESSAGE_SIZE);
        self
    }

    /// Adds bytes and returns the next whole message once it is complete. Call again with an
    /// empty slice to take a second message that arrived in the same chunk.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<Message>> {
        self.append(bytes);
        let Some(length) = self.check_header()? else {
            return Ok(None);
        };
        if self.buffer.len() < length {
            return Ok(None);
        }
        let rest = WipedBytes::from(self.buffer.vec_mut().split_off(length));
        let message = parse_message(std::mem::replace(&mut self.buffer, rest))?;
        if message.more_to_come && !self.allow_more_to_come {
            return Err(WireError::MoreToCome.into());
        }
        Ok(Some(message))
    }

    /// Grows the buffer by moving it into a larger one, so the old allocation is wiped rather
    /// than freed with a request in it.
    fn append(&mut self, bytes: &[u8]) {
        let needed = self.buffer.len().saturating_add(bytes.len());
        if needed > self.buffer.capacity() {
            let mut grown =
                WipedBytes::with_capacity(needed.max(self.buffer.capacity().saturating_mul(2)));
            grown.vec_mut().extend_from_slice(&self.buffer);
            self.buffer = grown;
        }
        self.buffer.vec_mut().extend_from_slice(bytes);
    }

    /// How many more bytes are needed before the next message can be complete (at least 1, at
    /// most the size limit): a reader can ask the socket for exactly that much. Until the header
    /// is in and validated, that is the rest of the header.
    pub fn bytes_wanted(&self) -> usize {
        let buffered = self.buffer.len();
        if buffered < HEADER_LEN {
            return HEADER_LEN - buffered;
        }
        let declared = read_i32(&self.buffer, 0)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(HEADER_LEN);
        declared
            .clamp(HEADER_LEN, self.max_size)
            .saturating_sub(buffered)
            .max(1)
    }

    /// How many bytes of an incomplete message are buffered.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Validates the header as soon as it is in, so a hostile length or opcode fails before any
    /// body is buffered. Returns the message length once known.
    fn check_header(&self) -> Result<Option<usize>> {
        let (Some(length), Some(response_to), Some(op_code)) = (
            read_i32(&self.buffer, 0),
            read_i32(&self.buffer, 8),
            read_i32(&self.buffer, 12),
        ) else {
            return Ok(None);
        };
        let length_usize =
            usize::try_from(length).map_err(|_| WireError::TooShort(length.into()))?;
        if length_usize < HEADER_LEN {
            return Err(WireError::TooShort(length.into()).into());
        }
        if length_usize > self.max_size {
            return Err(WireError::TooLarge {
                length: length.into(),
                limit: self.max_size,
            }
            .into());
        }
        if !self.accepted.contains(&op_code) {
            return Err(WireError::UnknownOpcode(op_code).into());
        }
        if let Some(expected) = self.response_to
            && response_to != expected
        {
            return Err(WireError::ResponseToMismatch {
                expected,
                actual: response_to,
            }
            .into());
        }
        Ok(Some(length_usize))
    }
}

impl std::fmt::Debug for MessageDecoder {
    /// The buffer may hold a password (a PLAIN `saslStart` in transit): only its size is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageDecoder")
            .field("buffered", &self.buffer.len())
            .field("response_to", &self.response_to)
            .field("max_size", &self.max_size)
            .finish()
    }
}

/// Reassembles the reply to one request (OP_MSG or OP_REPLY) and checks it answers that request.
#[derive(Debug)]
pub struct ReplyDecoder(MessageDecoder);

impl ReplyDecoder {
    /// A decoder for the reply to the request with id `request_id`.
    pub fn new(request_id: i32) -> Self {
        ReplyDecoder(MessageDecoder {
            buffer: WipedBytes::default(),
            accepted: &[OP_MSG, OP_REPLY],
            response_to: Some(request_id),
            max_size: MAX_MESSAGE_SIZE,
            allow_more_to_come: false,
        })
    }

    /// Lowers the size limit (default [`MAX_MESSAGE_SIZE`]).
    pub fn max_size(self, max_size: usize) -> Self {
        ReplyDecoder(self.0.max_size(max_size))
    }

    /// Adds bytes; returns the reply once complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<Reply>> {
        self.0.push(bytes)
    }

    /// How many more bytes the reply needs, at least.
    pub fn bytes_wanted(&self) -> usize {
        self.0.bytes_wanted()
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let slice = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(slice.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    read_i32(bytes, at).map(|v| v as u32)
}

/// A BSON document starting at `at`, framed by its own length; returns it and its length.
fn framed_document(bytes: &[u8], at: usize) -> Result<(&[u8], usize)> {
    let malformed = || Error::from(WireError::Malformed("a document overruns its section"));
    let length = read_i32(bytes, at).ok_or_else(malformed)?;
    let length = usize::try_from(length).map_err(|_| malformed())?;
    let doc = bytes
        .get(at..at.checked_add(length).ok_or_else(malformed)?)
        .ok_or_else(malformed)?;
    document(doc)?;
    Ok((doc, length))
}

/// Where a message's body is.
enum Body {
    /// In the message, as it came.
    In(Range<usize>),
    /// Made from it: an OP_MSG body with its document sequences as arrays.
    Built(WipedBytes),
}

fn parse_message(bytes: WipedBytes) -> Result<Message> {
    let message: &[u8] = &bytes;
    let field = |at| read_i32(message, at).ok_or(WireError::TooShort(message.len() as i64));
    let request_id = field(4)?;
    let response_to = field(8)?;
    let op_code = field(12)?;
    let mut parsed = Message {
        request_id,
        response_to,
        op_code,
        more_to_come: false,
        exhaust_allowed: false,
        collection: None,
        bytes: WipedBytes::default(),
        body: 0..0,
    };
    let body = match op_code {
        OP_MSG => parse_op_msg(message, &mut parsed)?,
        OP_REPLY => parse_op_reply(message)?,
        OP_QUERY => parse_op_query(message, &mut parsed)?,
        other => return Err(WireError::UnknownOpcode(other).into()),
    };
    (parsed.bytes, parsed.body) = match body {
        Body::In(range) => (bytes, range),
        Body::Built(built) => {
            let len = built.len();
            (built, 0..len)
        }
    };
    Ok(parsed)
}

/// The range of a document that `framed_document(bytes, at)` found, shifted by `offset` (where
/// `bytes` starts in the message).
fn range_of(offset: usize, at: usize, length: usize) -> Range<usize> {
    offset + at..offset + at + length
}

fn parse_op_msg(message: &[u8], parsed: &mut Message) -> Result<Body> {
    let flags = read_u32(message, HEADER_LEN).ok_or(WireError::TooShort(message.len() as i64))?;
    let unknown = flags & REQUIRED_FLAGS & !KNOWN_REQUIRED_FLAGS;
    if unknown != 0 {
        return Err(WireError::UnknownRequiredFlags(unknown).into());
    }
    let mut end = message.len();
    if flags & FLAG_CHECKSUM_PRESENT != 0 {
        end = end
            .checked_sub(4)
            .ok_or(WireError::TooShort(message.len() as i64))?;
        let (covered, checksum) = (message.get(..end), read_u32(message, end));
        match (covered, checksum) {
            (Some(covered), Some(checksum)) if crc32c::crc32c(covered) == checksum => {}
            (Some(_), Some(_)) => return Err(WireError::ChecksumMismatch.into()),
            _ => return Err(WireError::TooShort(message.len() as i64).into()),
        }
    }
    parsed.more_to_come = flags & FLAG_MORE_TO_COME != 0;
    parsed.exhaust_allowed = flags & FLAG_EXHAUST_ALLOWED != 0;
    const SECTIONS: usize = HEADER_LEN + 4;
    let sections = message
        .get(SECTIONS..end)
        .ok_or(WireError::TooShort(message.len() as i64))?;
    let mut body = None;
    // Each document sequence (kind 1): its identifier and its documents.
    let mut sequences: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    let mut at = 0;
    while let Some(&kind) = sections.get(at) {
        at += 1;
        match kind {
            0 => {
                let (_, length) = framed_document(sections, at)?;
                if body.replace(range_of(SECTIONS, at, length)).is_some() {
                    return Err(WireError::Malformed("more than one body section").into());
                }
                at += length;
            }
            1 => {
                // A document sequence: size (itself included), identifier, documents.
                let malformed = || {
                    Error::from(WireError::Malformed(
                        "a document sequence overruns the message",
                    ))
                };
                let size = read_i32(sections, at).ok_or_else(malformed)?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|&s| s >= 5)
                    .ok_or_else(malformed)?;
                let sequence_end = at
                    .checked_add(size)
                    .filter(|&e| e <= sections.len())
                    .ok_or_else(malformed)?;
                let sequence = sections.get(at + 4..sequence_end).ok_or_else(malformed)?;
                let name_end =
                    sequence
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or(WireError::Malformed(
                            "a document sequence identifier is not terminated",
                        ))?;
                let identifier = sequence.get(..name_end).unwrap_or_default();
                let mut documents = Vec::new();
                let mut doc_at = name_end + 1;
                while doc_at < sequence.len() {
                    let (doc, length) = framed_document(sequence, doc_at)?;
                    documents.push(doc);
                    doc_at += length;
                }
                sequences.push((identifier, documents));
                at = sequence_end;
            }
            _ => return Err(WireError::Malformed("unknown section kind").into()),
        }
    }
    let body = body.ok_or(WireError::Malformed("no body section"))?;
    if sequences.is_empty() {
        return Ok(Body::In(body));
    }
    let body = message.get(body).unwrap_or_default();
    Ok(Body::Built(with_sequences(body, &sequences)?))
}

/// The body with each document sequence as an array field of its identifier: the command a
/// sender could have written inline (`insert` with `documents: [...]`).
fn with_sequences(body: &[u8], sequences: &[(&[u8], Vec<&[u8]>)]) -> Result<WipedBytes> {
    use bson::raw::CStr;
    let malformed = |rule| Error::from(WireError::Malformed(rule));
    // Every name checked against a set, in one pass over the body: looking each sequence up in
    // the growing document made a message of many small sequences cost quadratic time (a
    // megabyte of empty ones, minutes of CPU before any login). Everything that may be refused is
    // checked here, before any of the request is copied.
    let mut names = std::collections::HashSet::with_capacity(sequences.len());
    let mut named = Vec::with_capacity(sequences.len());
    for (identifier, documents) in sequences {
        let name = std::str::from_utf8(identifier)
            .map_err(|_| malformed("a document sequence identifier is not UTF-8"))?;
        if !names.insert(name) {
            return Err(malformed("two document sequences have one identifier"));
        }
        let key = <&CStr>::try_from(name)
            .map_err(|_| malformed("a document sequence identifier is not a field name"))?;
        let documents = documents
            .iter()
            .map(|document| RawDocument::from_bytes(document))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| malformed("a sequence holds something that is not a document"))?;
        named.push((key, documents));
    }
    let mut repeated = false;
    document_with_keys(body, |key| repeated |= names.contains(key))?;
    if repeated {
        return Err(malformed("a document sequence repeats a field of the body"));
    }
    // Written at its final size, each array too: a document grown while appending leaves a copy
    // of what it held (a request may carry a password) behind each time it moves. An array is a
    // document whose keys are its indexes: each is built as one, and typed an array at the end.
    let array_len = |documents: &[&RawDocument]| {
        let elements = documents.iter().enumerate();
        elements.fold(5usize, |len, (index, document)| {
            len.saturating_add(array_element_len(index, document.as_bytes().len()))
        })
    };
    let capacity = named.iter().fold(body.len(), |len, (key, documents)| {
        len.saturating_add((2 + key.len()).saturating_add(array_len(documents)))
    });
    let mut merged = Vec::with_capacity(capacity);
    merged.extend_from_slice(body);
    let mut merged = bson::RawDocumentBuf::from_bytes(merged)
        .unwrap_or_else(|_| unreachable!("the body was read as a document above"));
    let mut arrays_at = Vec::with_capacity(named.len());
    for (key, documents) in named {
        let mut array = document_with_capacity(array_len(&documents));
        for (index, document) in documents.into_iter().enumerate() {
            let index = index.to_string();
            let index = <&CStr>::try_from(index.as_str())
                .unwrap_or_else(|_| unreachable!("a decimal number has no NUL"));
            array.append(index, document);
        }
        // The element's type byte goes where the document's terminator is now.
        arrays_at.push(merged.as_bytes().len().saturating_sub(1));
        merged.append(key, &*array);
        drop(WipedBytes::from(array.into_bytes()));
    }
    let mut merged = WipedBytes::from(merged.into_bytes());
    for at in arrays_at {
        if let Some(kind) = merged.vec_mut().get_mut(at) {
            debug_assert_eq!(*kind, bson::spec::ElementType::EmbeddedDocument as u8);
            *kind = bson::spec::ElementType::Array as u8;
        }
    }
    Ok(merged)
}

fn parse_op_reply(message: &[u8]) -> Result<Body> {
    const DOCUMENTS: usize = HEADER_LEN + 20;
    let number_returned =
        read_i32(message, HEADER_LEN + 16).ok_or(WireError::TooShort(message.len() as i64))?;
    if number_returned < 1 {
        return Err(WireError::Malformed("OP_REPLY returned no document").into());
    }
    let (_, length) = framed_document(message, DOCUMENTS)?;
    Ok(Body::In(range_of(0, DOCUMENTS, length)))
}

fn parse_op_query(message: &[u8], parsed: &mut Message) -> Result<Body> {
    const COLLECTION: usize = HEADER_LEN + 4;
    let rest = message
        .get(COLLECTION..)
        .ok_or(WireError::TooShort(message.len() as i64))?;
    let name_len = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or(WireError::Malformed(
            "OP_QUERY collection name is not terminated",
        ))?;
    let name = rest.get(..name_len).unwrap_or_default();
    parsed.collection = Some(String::from_utf8_lossy(name).into_owned());
    // Skip the name, its NUL, numberToSkip and numberToReturn.
    let (_, length) = framed_document(rest, name_len + 9)?;
    Ok(Body::In(range_of(COLLECTION, name_len + 9, length)))
}

#[cfg(test)]
mod tests;
