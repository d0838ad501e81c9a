//! Arbitrary bytes as what MONGODB-OIDC's human flows read from a provider and a browser: a
//! token endpoint's reply, a device authorization reply, and the redirect request's target
//! (the client side); and as Azure's token reply to the built-in `azure` environment. They
//! never panic their readers. (`oidc_human_flow` runs whole logins.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::{
    oidc_azure_token_reply, oidc_device_authorization_reply, oidc_redirect, oidc_token_reply,
};

fuzz_target!(|data: &[u8]| {
    let _ = oidc_token_reply(data);
    let _ = oidc_device_authorization_reply(data);
    let _ = oidc_redirect(&String::from_utf8_lossy(data), "/redirect", "state");
    let _ = oidc_azure_token_reply(data);
});
