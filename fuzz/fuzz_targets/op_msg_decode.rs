//! Arbitrary bytes, in arbitrary chunks, never panic the wire decoders, and chunking never
//! changes the result.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::wire::{MessageDecoder, ReplyDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    // Answer the request id the bytes claim, so the fuzzer gets past the responseTo check.
    let response_to = bytes.get(8..12).map_or(0, |b| i32::from_le_bytes(b.try_into().unwrap()));

    let whole = ReplyDecoder::new(response_to).max_size(1 << 20).push(bytes);
    let mut chunked = ReplyDecoder::new(response_to).max_size(1 << 20);
    let mut result = Ok(None);
    for piece in bytes.chunks(chunk) {
        result = chunked.push(piece);
        if !matches!(result, Ok(None)) {
            break;
        }
        assert!(chunked.bytes_wanted() >= 1);
    }
    match (&whole, &result) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("whole {whole:?} vs chunked {result:?}"),
    }
    let mut requests = MessageDecoder::requests();
    let _ = requests.push(bytes);
    while let Ok(Some(_)) = requests.push(&[]) {}
});
