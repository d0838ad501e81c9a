//! Arbitrary bytes as an identity provider's discovery document, as an endpoint URL, and as the
//! JSON Web Key Set the server fetches never panic their readers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::oidc::{ProviderMetadata, check_endpoint};
use mongodb_auth_server::jwks::Jwks;

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = ProviderMetadata::parse(data, "https://issuer.example") {
        let _ = metadata.keys_request();
    }
    let _ = check_endpoint(&String::from_utf8_lossy(data));
    let _ = Jwks::from_json(data);
});
