//! Arbitrary PLAIN payloads never panic the server's split, and what it accepts is exactly
//! `[authzid] NUL user NUL password` with an authzid that is empty or the user.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::split_plain_payload;

fuzz_target!(|data: &[u8]| {
    let Some((user, password)) = split_plain_payload(data) else {
        return;
    };
    let bare = format!("\0{user}\0{}", password.expose());
    let with_authzid = format!("{user}{bare}");
    assert!(data == bare.as_bytes() || data == with_authzid.as_bytes());
    assert_eq!(format!("{password:?}"), "<redacted>");
});
