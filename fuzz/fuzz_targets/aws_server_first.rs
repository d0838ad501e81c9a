//! Arbitrary server-first payloads never panic the MONGODB-AWS client, and what it accepts has
//! a 64-byte nonce extending the client's and a host of rule K2.

#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mongodb_auth::aws::{self, ClientFirst, Credentials};
use mongodb_auth::random;

fuzz_target!(|data: &[u8]| {
    let mut fixed = random::from_fn(|bytes: &mut [u8]| bytes.fill(0x5a));
    let (_, client) = ClientFirst::start(&mut fixed);
    let client_nonce = client.nonce().to_vec();
    if let Ok((nonce, host)) = aws::parse_server_first(data, &client_nonce) {
        assert_eq!(nonce.len(), 64);
        assert!(nonce.starts_with(&client_nonce));
        assert!(aws::region_for_host(&host).is_ok());
    }
    let credentials = Credentials::new("AKIDFUZZ", "secret", None);
    let _ = client.finish(data, &credentials, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
});
