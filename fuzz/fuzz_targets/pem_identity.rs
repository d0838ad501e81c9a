//! Arbitrary bytes as a `tlsCertificateKeyFile` never panic the PEM, key and certificate
//! readers, with and without a password for an encrypted key.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mongodb_auth_io::tls::Identity;
use mongodb_auth::Secret;

fuzz_target!(|data: &[u8]| {
    let password = Secret::new("fuzz");
    let path = Path::new("fuzz.pem");
    for password in [None, Some(&password)] {
        if let Ok(identity) = Identity::from_pem("tlsCertificateKeyFile", path, data, password) {
            assert!(!identity.chain().is_empty());
        }
    }
});
