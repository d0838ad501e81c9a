//! Arbitrary client-final payloads never panic the server's MONGODB-AWS intake, and a local
//! STS accepts only a request signed with the right secret.

#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::read_client_final;
use mongodb_auth::server::aws::LocalSts;
use mongodb_auth::Secret;

fuzz_target!(|data: &[u8]| {
    let nonce = [7u8; 64];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let Ok(request) = read_client_final(data, &nonce, "sts.amazonaws.com", now) else {
        return;
    };
    let mut sts = LocalSts::new();
    sts.insert("arn:aws:iam::1:user/fuzz", "AKIDFUZZ", Secret::new("a secret the fuzzer cannot sign with"));
    // Forging a signature without the secret would be a break of HMAC-SHA256.
    assert!(sts.caller_arn(&request).is_err());
});
