//! Arbitrary security-layer messages (RFC 4752 section 3.1) never panic either side's parser,
//! and the client's answer always picks "no security layer".

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::gssapi::{read_security_layer_choice, security_layer_reply};

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = security_layer_reply(data, "user@REALM") {
        assert!(reply.starts_with(&[1, 0, 0, 0]) && reply.ends_with(b"user@REALM"));
    }
    if let Ok(authorization_id) = read_security_layer_choice(data) {
        assert!(data.len() >= 4 && data[0] == 1 && authorization_id.len() == data.len() - 4);
    }
});
