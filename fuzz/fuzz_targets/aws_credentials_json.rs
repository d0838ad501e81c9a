//! Arbitrary bodies as a `credential_process` output, a container or instance-metadata reply, and
//! an STS reply never panic their readers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::{
    aws_credentials_object, aws_process_credentials, sts_credentials_from_reply, xml_element,
};

fuzz_target!(|data: &[u8]| {
    let _ = aws_process_credentials(data);
    let _ = aws_credentials_object(data, "Token");
    let text = String::from_utf8_lossy(data);
    let _ = sts_credentials_from_reply(&text);
    let _ = xml_element(&text, "Arn");
});
