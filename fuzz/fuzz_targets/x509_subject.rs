//! Arbitrary DER never panics the certificate parsers (the server reads a client's certificate,
//! the client the server's: its subject, its issuer for an error message, its validity for a
//! certificate trusted as itself), and a name they return is one line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::x509::{certificate_issuer, certificate_subject, certificate_validity};

fuzz_target!(|data: &[u8]| {
    for name in [certificate_subject(data), certificate_issuer(data)].into_iter().flatten() {
        assert!(!name.contains('\n') && !name.contains('\r'), "{name:?}");
    }
    let _ = certificate_validity(data);
});
