//! Arbitrary DER never panics the certificate subject parser (the server reads it from a
//! client's certificate, the client from the server's), and a subject it returns is one line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::x509::certificate_subject;

fuzz_target!(|data: &[u8]| {
    if let Ok(subject) = certificate_subject(data) {
        assert!(!subject.contains('\n') && !subject.contains('\r'), "{subject:?}");
    }
});
