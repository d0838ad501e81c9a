//! Arbitrary bodies as a `credential_process` output, a container or instance-metadata reply, and
//! an STS reply never panic their readers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::aws::{json, sts};

fuzz_target!(|data: &[u8]| {
    let _ = json::process_credentials(data);
    let _ = json::credentials_object(data, "Token");
    let text = String::from_utf8_lossy(data);
    let _ = sts::credentials_from_reply(&text);
    let _ = sts::xml_element(&text, "Arn");
});
