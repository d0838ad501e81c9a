//! Arbitrary server payloads never panic the client's `IdpInfo` parser, and what it accepts has
//! an issuer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::oidc::IdpInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = IdpInfo::from_bson(data) {
        let _ = info.issuer.len();
    }
});
