//! Arbitrary bodies as a `credential_process` output, a container or instance-metadata reply, an
//! STS reply, an SSO token file and the SSO portal's and OIDC service's replies never panic
//! their readers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::{
    aws_credentials_object, aws_process_credentials, sso_refreshed, sso_role_credentials,
    sso_token, sts_credentials_from_reply, xml_element,
};

fuzz_target!(|data: &[u8]| {
    let _ = aws_process_credentials(data);
    let _ = aws_credentials_object(data, "Token");
    let _ = sso_token(data);
    let _ = sso_role_credentials(data);
    let _ = sso_refreshed(data, std::time::SystemTime::UNIX_EPOCH);
    let text = String::from_utf8_lossy(data);
    let _ = sts_credentials_from_reply(&text);
    let _ = xml_element(&text, "Arn");
});
