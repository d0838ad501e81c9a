use bson::rawdoc;

use super::*;

fn ping() -> Command {
    Command::new("admin", rawdoc! { "ping": 1 }.into_bytes())
}

fn ok_reply(response_to: i32) -> Vec<u8> {
    encode_reply(rawdoc! { "ok": 1.0 }.as_bytes(), 100, response_to)
        .unwrap()
        .to_vec()
}

fn decode_whole(bytes: &[u8], request_id: i32) -> Result<Option<Reply>> {
    ReplyDecoder::new(request_id).push(bytes)
}

fn wire_error(result: Result<Option<Reply>>) -> WireError {
    match result {
        Err(Error::Wire(e)) => e,
        other => panic!("expected a wire error, got {other:?}"),
    }
}

/// An OP_MSG with the given flags and raw section bytes.
fn op_msg(response_to: i32, flags: u32, sections: &[u8]) -> Vec<u8> {
    let mut out = Zeroizing::new(Vec::new());
    header(&mut out, 5, response_to, OP_MSG);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(sections);
    finish(out).unwrap().to_vec()
}

fn body_section() -> Vec<u8> {
    let mut section = vec![0u8];
    section.extend_from_slice(rawdoc! { "ok": 1 }.as_bytes());
    section
}

#[test]
fn command_gets_its_db_and_round_trips() {
    let bytes = encode_command(&ping(), 42).unwrap();
    assert_eq!(read_i32(&bytes, 0), Some(bytes.len() as i32));
    let message = MessageDecoder::requests().push(&bytes).unwrap().unwrap();
    assert_eq!(
        (message.request_id, message.response_to, message.op_code),
        (42, 0, OP_MSG)
    );
    let body = bson::Document::try_from(RawDocument::from_bytes(message.body()).unwrap()).unwrap();
    assert_eq!(body, bson::doc! { "ping": 1, "$db": "admin" });
}

#[test]
fn any_chunking_gives_the_same_reply() {
    let bytes = ok_reply(9);
    let whole = decode_whole(&bytes, 9).unwrap().unwrap();
    for chunk in 1..=bytes.len() {
        let mut decoder = ReplyDecoder::new(9);
        let mut got = None;
        for piece in bytes.chunks(chunk) {
            assert!(got.is_none(), "a reply came out before its last byte");
            assert!(decoder.bytes_wanted() >= 1);
            got = decoder.push(piece).unwrap();
        }
        assert_eq!(got.as_ref(), Some(&whole), "chunk size {chunk}");
    }
}

#[test]
fn bytes_wanted_counts_down_to_the_end() {
    let bytes = ok_reply(1);
    let mut decoder = ReplyDecoder::new(1);
    assert_eq!(decoder.bytes_wanted(), HEADER_LEN);
    decoder.push(&bytes[..4]).unwrap();
    assert_eq!(
        decoder.bytes_wanted(),
        HEADER_LEN - 4,
        "the rest of the header first"
    );
    decoder.push(&bytes[4..HEADER_LEN]).unwrap();
    assert_eq!(
        decoder.bytes_wanted(),
        bytes.len() - HEADER_LEN,
        "then the rest of the message"
    );
    assert!(decoder.push(&bytes[HEADER_LEN..]).unwrap().is_some());
}

#[test]
fn bytes_wanted_never_trusts_an_unchecked_length() {
    let mut decoder = ReplyDecoder::new(1).max_size(1024);
    // A hostile length in the first four bytes, header incomplete: ask for the header only.
    decoder.push(&i32::MAX.to_le_bytes()).unwrap();
    assert_eq!(decoder.bytes_wanted(), HEADER_LEN - 4);
}

/// A declared stable API goes in every command, after the body and before `$db`: the
/// version, and each flag once set, `false` too. The room kept for it is what it takes.
#[test]
fn a_declared_api_and_max_time_come_before_db() {
    use crate::command::{ServerApi, ServerApiVersion};
    let body_of = |message: &[u8]| {
        let decoded = MessageDecoder::requests().push(message).unwrap().unwrap();
        RawDocument::from_bytes(decoded.body()).unwrap().to_owned()
    };
    let keys = |body: &RawDocumentBuf| -> Vec<String> {
        body.iter()
            .map(|e| e.unwrap().0.as_str().to_owned())
            .collect()
    };
    let plain = body_of(&encode_command(&ping(), 1).unwrap());
    assert_eq!(keys(&plain), ["ping", "$db"]);
    let all = ServerApi::new(ServerApiVersion::V1)
        .strict(false)
        .deprecation_errors(true);
    let declared = body_of(
        &encode_command_with(&ping(), 1, &GenericArguments::new().server_api(Some(all))).unwrap(),
    );
    assert_eq!(
        keys(&declared),
        [
            "ping",
            "apiVersion",
            "apiStrict",
            "apiDeprecationErrors",
            "$db"
        ]
    );
    assert_eq!(declared.get_str("apiVersion").ok(), Some("1"));
    assert_eq!(declared.get_bool("apiStrict").ok(), Some(false));
    assert_eq!(declared.get_bool("apiDeprecationErrors").ok(), Some(true));
    assert_eq!(
        declared.as_bytes().len() - plain.as_bytes().len(),
        all.encoded_len()
    );
    let version_only = ServerApi::new(ServerApiVersion::V1);
    let declared = body_of(
        &encode_command_with(
            &ping(),
            1,
            &GenericArguments::new().server_api(Some(version_only)),
        )
        .unwrap(),
    );
    assert_eq!(keys(&declared), ["ping", "apiVersion", "$db"]);
    assert_eq!(
        declared.as_bytes().len() - plain.as_bytes().len(),
        version_only.encoded_len()
    );
    // What monitoring shows: the same fields, no `$db`.
    let shown = ping()
        .with_arguments(&GenericArguments::new().server_api(Some(all)))
        .unwrap();
    let shown = RawDocument::from_bytes(shown.body()).unwrap();
    let shown: Vec<&str> = shown.iter().map(|e| e.unwrap().0.as_str()).collect();
    assert_eq!(
        shown,
        ["ping", "apiVersion", "apiStrict", "apiDeprecationErrors"]
    );
    assert_eq!(
        encode_command_with(&ping(), 1, &GenericArguments::new()).unwrap(),
        encode_command(&ping(), 1).unwrap()
    );
    // `maxTimeMS` after the API's fields, in whole milliseconds, as a 64-bit integer.
    let timed = GenericArguments::new()
        .server_api(Some(version_only))
        .max_time(Some(std::time::Duration::from_micros(1_999_999)));
    assert_eq!(timed.max_time_ms(), Some(1999));
    let sent = body_of(&encode_command_with(&ping(), 1, &timed).unwrap());
    assert_eq!(keys(&sent), ["ping", "apiVersion", "maxTimeMS", "$db"]);
    assert_eq!(sent.get_i64("maxTimeMS").ok(), Some(1999));
    assert_eq!(
        sent.as_bytes().len() - plain.as_bytes().len(),
        timed.encoded_len()
    );
    let forever = GenericArguments::new().max_time(Some(std::time::Duration::MAX));
    assert_eq!(forever.max_time_ms(), Some(i64::MAX));
    // Never 0, which the server reads as no limit.
    for short in [0, 999] {
        let short = GenericArguments::new().max_time(Some(std::time::Duration::from_micros(short)));
        assert_eq!(short.max_time_ms(), Some(1));
    }
}

#[test]
fn debug_does_not_show_buffered_bytes() {
    let mut decoder = MessageDecoder::requests();
    let plain = encode_command(
        &Command::new(
            "$external",
            rawdoc! { "saslStart": 1, "payload": "\0user\0S3CRET" }.into_bytes(),
        ),
        1,
    )
    .unwrap();
    decoder.push(&plain[..plain.len() - 1]).unwrap();
    assert_eq!(decoder.buffered(), plain.len() - 1);
    assert!(
        !format!("{decoder:?}").contains("83, 51, 67"),
        "{decoder:?}"
    ); // b"S3C"
    assert!(!format!("{:?}", ReplyDecoder::new(1)).contains("buffer: ["));
}

#[test]
fn two_messages_in_one_chunk() {
    let mut bytes = encode_command(&ping(), 1).unwrap().to_vec();
    bytes.extend(encode_command(&ping(), 2).unwrap().iter());
    let mut decoder = MessageDecoder::requests();
    assert_eq!(decoder.push(&bytes).unwrap().unwrap().request_id, 1);
    assert_eq!(decoder.push(&[]).unwrap().unwrap().request_id, 2);
    assert!(decoder.push(&[]).unwrap().is_none());
}

#[test]
fn rejects_bad_lengths() {
    let mut short = ok_reply(1);
    short[..4].copy_from_slice(&15i32.to_le_bytes());
    assert_eq!(wire_error(decode_whole(&short, 1)), WireError::TooShort(15));
    let mut negative = ok_reply(1);
    negative[..4].copy_from_slice(&(-1i32).to_le_bytes());
    assert_eq!(
        wire_error(decode_whole(&negative, 1)),
        WireError::TooShort(-1)
    );
    // Refused from the header alone, before 48 MB are buffered.
    let mut huge = ok_reply(1);
    huge[..4].copy_from_slice(&(48_000_001i32).to_le_bytes());
    assert!(matches!(
        wire_error(decode_whole(&huge[..HEADER_LEN], 1)),
        WireError::TooLarge { .. }
    ));
    let mut custom = ReplyDecoder::new(1).max_size(20);
    assert!(matches!(
        custom.push(&ok_reply(1)),
        Err(Error::Wire(WireError::TooLarge { limit: 20, .. }))
    ));
}

#[test]
fn rejects_unknown_opcode_and_wrong_response_to() {
    let mut bytes = ok_reply(1);
    bytes[12..16].copy_from_slice(&2012i32.to_le_bytes()); // OP_COMPRESSED, never requested
    assert_eq!(
        wire_error(decode_whole(&bytes, 1)),
        WireError::UnknownOpcode(2012)
    );
    assert_eq!(
        wire_error(decode_whole(&ok_reply(3), 4)),
        WireError::ResponseToMismatch {
            expected: 4,
            actual: 3
        }
    );
    // A server does not accept replies as requests.
    assert!(
        MessageDecoder::requests()
            .push(&encode_legacy_reply(rawdoc! {"ok": 1}.as_bytes(), 1, 1).unwrap())
            .is_err()
    );
}

#[test]
fn flags() {
    // Bit 2 is required and unknown.
    assert_eq!(
        wire_error(decode_whole(&op_msg(1, 1 << 2, &body_section()), 1)),
        WireError::UnknownRequiredFlags(4)
    );
    // exhaustAllowed (bit 16) is optional: ignored.
    assert!(
        decode_whole(&op_msg(1, 1 << 16, &body_section()), 1)
            .unwrap()
            .is_some()
    );
    // A reply with moreToCome would leave further replies on the socket: refused.
    assert_eq!(
        wire_error(decode_whole(
            &op_msg(1, FLAG_MORE_TO_COME, &body_section()),
            1
        )),
        WireError::MoreToCome
    );
    // A request may set it (fire-and-forget): the server sees the flag.
    let request = MessageDecoder::requests()
        .push(&op_msg(0, FLAG_MORE_TO_COME, &body_section()))
        .unwrap()
        .unwrap();
    assert!(request.more_to_come);
}

#[test]
fn a_command_with_its_own_db_is_refused_not_doubled() {
    let command = Command::new("admin", rawdoc! { "ping": 1, "$db": "other" }.into_bytes());
    assert!(matches!(
        encode_command(&command, 1),
        Err(Error::Wire(WireError::CommandHasDb))
    ));
}

#[test]
fn a_size_limit_below_the_header_cannot_panic() {
    for limit in [0, 1, HEADER_LEN - 1, HEADER_LEN] {
        let mut decoder = ReplyDecoder::new(1).max_size(limit);
        assert!(decoder.bytes_wanted() >= 1);
        assert!(decoder.push(&ok_reply(1)[..HEADER_LEN]).is_err());
        assert!(decoder.bytes_wanted() >= 1);
    }
}

#[test]
fn an_invalid_utf8_key_is_reported_as_such() {
    // {"\xff": 1}: int32 element with a one-byte, non-UTF-8 key.
    let doc: &[u8] = &[12, 0, 0, 0, 0x10, 0xff, 0, 1, 0, 0, 0, 0];
    let mut section = vec![0u8];
    section.extend_from_slice(doc);
    assert_eq!(
        wire_error(decode_whole(&op_msg(1, 0, &section), 1)),
        WireError::InvalidUtf8Key
    );
    assert!(matches!(
        encode_command(&Command::new("admin", doc.to_vec()), 1),
        Err(Error::Wire(WireError::InvalidUtf8Key))
    ));
    // A reply's keys are not checked again when it is sent (bson's builders checked them), but
    // the client that reads it refuses it; a reply's framing is checked.
    let sent = encode_reply(doc, 100, 1).expect("only the framing is checked");
    assert_eq!(
        wire_error(decode_whole(&sent, 1)),
        WireError::InvalidUtf8Key
    );
    for encode in [encode_reply, encode_streamed_reply, encode_legacy_reply] {
        assert!(matches!(
            encode(&doc[..doc.len() - 1], 100, 1),
            Err(Error::Wire(WireError::Malformed(_)))
        ));
    }
}

#[test]
fn checksum() {
    let with_checksum = |corrupt: bool| {
        let mut sections = body_section();
        sections.extend_from_slice(&[0; 4]); // checksum placeholder
        let mut bytes = op_msg(1, FLAG_CHECKSUM_PRESENT, &sections);
        let end = bytes.len() - 4;
        let crc = crc32c::crc32c(&bytes[..end]) ^ u32::from(corrupt);
        bytes[end..].copy_from_slice(&crc.to_le_bytes());
        bytes
    };
    assert!(decode_whole(&with_checksum(false), 1).unwrap().is_some());
    assert_eq!(
        wire_error(decode_whole(&with_checksum(true), 1)),
        WireError::ChecksumMismatch
    );
}

#[test]
fn malformed_sections() {
    let body = body_section();
    let mut two_bodies = body.clone();
    two_bodies.extend_from_slice(&body);
    let mut overrun = body.clone();
    overrun[1] = 200; // the document claims more bytes than the message has
    let mut bad_sequence = body.clone();
    bad_sequence.extend_from_slice(&[1, 100, 0, 0, 0, b'x']);
    let mut good_sequence = body.clone();
    let doc = rawdoc! { "a": 1 }.into_bytes();
    good_sequence.push(1);
    good_sequence.extend_from_slice(&((4 + 2 + doc.len()) as i32).to_le_bytes());
    good_sequence.extend_from_slice(b"d\0");
    good_sequence.extend_from_slice(&doc);
    let cases: [(&[u8], WireError); 6] = [
        (&[], WireError::Malformed("no body section")),
        (&[7], WireError::Malformed("unknown section kind")),
        (
            &two_bodies,
            WireError::Malformed("more than one body section"),
        ),
        (
            &overrun,
            WireError::Malformed("a document overruns its section"),
        ),
        (
            &bad_sequence,
            WireError::Malformed("a document sequence overruns the message"),
        ),
        (
            &[0, 5, 0, 0, 0, 1],
            WireError::Malformed("a document is not valid BSON"),
        ),
    ];
    for (sections, expected) in cases {
        assert_eq!(
            wire_error(decode_whole(&op_msg(1, 0, sections), 1)),
            expected,
            "{sections:?}"
        );
    }
    assert!(
        decode_whole(&op_msg(1, 0, &good_sequence), 1)
            .unwrap()
            .is_some()
    );
}

/// A message keeps the bytes it came in, its body a range of them: the owned body is that range
/// alone, for each op code (each body at its own offset, and one built from sequences), and
/// equality looks at the body, not at the bytes around it.
#[test]
fn a_message_s_body_is_the_body_alone() {
    let doc = rawdoc! { "ping": 1, "$db": "admin" };
    let query = encode_legacy_hello(doc.as_bytes(), 3).unwrap();
    let reply = encode_legacy_reply(doc.as_bytes(), 4, 3).unwrap();
    let mut sections = body_section();
    let sequence_doc = rawdoc! { "x": 1 };
    sections.push(1);
    sections.extend_from_slice(&(4 + 5 + sequence_doc.as_bytes().len() as i32).to_le_bytes());
    sections.extend_from_slice(b"docs\0");
    sections.extend_from_slice(sequence_doc.as_bytes());
    let with_sequence = op_msg(0, 0, &sections);
    for (bytes, decoder, body) in [
        (
            encode_command(&ping(), 5).unwrap().to_vec(),
            MessageDecoder::requests(),
            None,
        ),
        (
            query.to_vec(),
            MessageDecoder::requests(),
            Some(doc.as_bytes()),
        ),
        (reply.to_vec(), ReplyDecoder::new(3).0, Some(doc.as_bytes())),
        (with_sequence, MessageDecoder::requests(), None),
    ] {
        let mut decoder = decoder;
        let message = decoder.push(&bytes).unwrap().unwrap();
        let owned = message.clone().into_body();
        assert_eq!(&owned[..], message.body());
        assert!(RawDocument::from_bytes(&owned).is_ok());
        if let Some(body) = body {
            assert_eq!(message.body(), body);
        }
    }
    let body = rawdoc! { "ping": 1, "$db": "admin" }.into_bytes();
    let plain = encode_reply(&body, 5, 0).unwrap();
    // The checksum takes the last 4 bytes.
    let sections = [&[0u8][..], &body, &[0; 4]].concat();
    let mut checksummed = op_msg(0, FLAG_CHECKSUM_PRESENT, &sections);
    let end = checksummed.len() - 4;
    let crc = crc32c::crc32c(&checksummed[..end]);
    checksummed[end..].copy_from_slice(&crc.to_le_bytes());
    let [plain, checksummed] = [&plain[..], &checksummed[..]]
        .map(|bytes| MessageDecoder::requests().push(bytes).unwrap().unwrap());
    assert_eq!(plain.body(), &body[..]);
    // The checksum after the body is cut off.
    assert_eq!(&checksummed.clone().into_body()[..], &body[..]);
    assert_eq!(
        plain, checksummed,
        "the checksum is no part of the message's value"
    );
}

#[test]
fn legacy_hello_and_reply() {
    let hello = rawdoc! { "isMaster": 1, "helloOk": true };
    let query = encode_legacy_hello(hello.as_bytes(), 3).unwrap();
    let request = MessageDecoder::requests().push(&query).unwrap().unwrap();
    assert_eq!(request.op_code, OP_QUERY);
    assert_eq!(request.collection.as_deref(), Some("admin.$cmd"));
    assert_eq!(request.body(), hello.as_bytes());

    let reply_doc = rawdoc! { "ismaster": true, "ok": 1.0 };
    let reply = encode_legacy_reply(reply_doc.as_bytes(), 77, 3).unwrap();
    let decoded = decode_whole(&reply, 3).unwrap().unwrap();
    assert_eq!(
        (decoded.op_code, decoded.body()),
        (OP_REPLY, reply_doc.as_bytes())
    );

    let mut empty = reply.to_vec();
    empty[HEADER_LEN + 16..HEADER_LEN + 20].copy_from_slice(&0i32.to_le_bytes());
    assert_eq!(
        wire_error(decode_whole(&empty, 3)),
        WireError::Malformed("OP_REPLY returned no document")
    );
}

#[test]
fn encoding_rejects_non_documents() {
    let bad = Command::new("admin", vec![1, 2, 3]);
    assert!(encode_command(&bad, 1).is_err());
    assert!(encode_legacy_hello(&[5, 0, 0, 0, 1], 1).is_err());
}

/// An OP_MSG section of kind 1: `identifier` and `documents`.
fn sequence_section(identifier: &str, documents: &[bson::RawDocumentBuf]) -> Vec<u8> {
    let mut payload = identifier.as_bytes().to_vec();
    payload.push(0);
    for document in documents {
        payload.extend_from_slice(document.as_bytes());
    }
    let mut section = vec![1u8];
    section.extend_from_slice(&((4 + payload.len()) as i32).to_le_bytes());
    section.extend_from_slice(&payload);
    section
}

proptest::proptest! {
    /// An `insert` whose documents come as a document sequence is the same command as one with
    /// them inline (with up to three digits in an index), written at its final size.
    #[test]
    fn a_document_sequence_is_the_inline_array(
        values in proptest::collection::vec((proptest::num::i64::ANY, "[a-z]{0,12}"), 0..120)
    ) {
        let documents: Vec<bson::RawDocumentBuf> = values
            .iter()
            .map(|(n, s)| rawdoc! { "n": *n, "s": s.as_str() })
            .collect();
        let header = rawdoc! { "insert": "c", "$db": "test" };
        let mut sequenced = vec![0u8];
        sequenced.extend_from_slice(header.as_bytes());
        sequenced.extend_from_slice(&sequence_section("documents", &documents));
        let mut inline = header.clone();
        let mut array = bson::RawArrayBuf::new();
        for document in &documents {
            array.push(document.clone());
        }
        inline.append(bson::raw::cstr!("documents"), array);
        let mut inline_section = vec![0u8];
        inline_section.extend_from_slice(inline.as_bytes());

        let decode = |sections: &[u8]| {
            MessageDecoder::requests().push(&op_msg(0, 0, sections)).unwrap().unwrap()
        };
        let (from_sequence, from_array) = (decode(&sequenced), decode(&inline_section));
        proptest::prop_assert_eq!(from_sequence.body(), from_array.body());
        proptest::prop_assert_eq!(from_sequence.body(), inline.as_bytes());
        proptest::prop_assert_eq!(from_sequence.bytes.capacity(), from_sequence.bytes.len());
    }
}

#[test]
fn a_sequence_may_not_repeat_a_field_of_the_body() {
    let mut sections = vec![0u8];
    sections.extend_from_slice(rawdoc! { "insert": "c", "documents": [] }.as_bytes());
    sections.extend_from_slice(&sequence_section("documents", &[rawdoc! { "a": 1 }]));
    assert_eq!(
        wire_error(MessageDecoder::requests().push(&op_msg(0, 0, &sections))),
        WireError::Malformed("a document sequence repeats a field of the body")
    );
}

/// `count` empty document sequences with distinct identifiers after `{insert: "c"}`.
fn many_sequences(count: usize) -> Vec<u8> {
    let mut sections = vec![0u8];
    sections.extend_from_slice(rawdoc! { "insert": "c" }.as_bytes());
    for i in 0..count {
        sections.extend_from_slice(&sequence_section(&format!("{i:x}"), &[]));
    }
    op_msg(0, 0, &sections)
}

#[test]
fn many_document_sequences_are_merged_in_linear_time() {
    // 300,000 empty sequences, 3.3 MB. Each looked up in the growing body, they cost about
    // n²/2 = 4.5e10 element reads (hours); checked against a set, well under a second. The
    // watchdog only turns the old hang into a failure: it is no measure of speed.
    const COUNT: usize = 300_000;
    let message = many_sequences(COUNT);
    let body =
        crate::test_support::finishes_within(std::time::Duration::from_secs(120), move || {
            MessageDecoder::requests()
                .max_size(message.len())
                .push(&message)
                .map(|message| message.map(|message| message.into_body()))
        })
        .expect("a valid message")
        .expect("a whole message");
    // Written at its final size, whatever the names' lengths.
    assert_eq!(body.capacity(), body.len());
    let body = RawDocument::from_bytes(&body).expect("a document");
    assert_eq!(body.iter_elements().count(), COUNT + 1);
    assert!(matches!(
        body.get("493df"),
        Ok(Some(bson::RawBsonRef::Array(_)))
    ));

    // Two sequences of one name are still refused, wherever they are.
    let mut sections = vec![0u8];
    sections.extend_from_slice(rawdoc! { "insert": "c" }.as_bytes());
    for name in ["a", "b", "a"] {
        sections.extend_from_slice(&sequence_section(name, &[]));
    }
    assert_eq!(
        wire_error(MessageDecoder::requests().push(&op_msg(0, 0, &sections))),
        WireError::Malformed("two document sequences have one identifier")
    );
}
