//! Arbitrary bytes as what MONGODB-OIDC's human flows read from a provider and a browser: a
//! token endpoint's reply, a device authorization reply, and the redirect request's target
//! (the client side), never panic their readers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::{oidc_device_authorization_reply, oidc_redirect, oidc_token_reply};

fuzz_target!(|data: &[u8]| {
    let _ = oidc_token_reply(data);
    let _ = oidc_device_authorization_reply(data);
    let _ = oidc_redirect(&String::from_utf8_lossy(data), "/redirect", "state");
});
