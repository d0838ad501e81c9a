//! Arbitrary bytes never panic the connection-string parser, and a connection string that parses,
//! printed back with `to_uri`, parses to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::{ConnectionString, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = std::str::from_utf8(data) else {
        return;
    };
    for options in [ParseOptions::default(), ParseOptions::strict()] {
        let Ok(cs) = ConnectionString::parse_with(uri, options) else {
            continue;
        };
        // Printing must not panic either.
        let _ = (format!("{cs}"), format!("{cs:?}"), cs.srv_query());
        let printed = cs.to_uri();
        let again = match ConnectionString::parse_with(printed.expose(), options) {
            Ok(again) => again,
            Err(e) => panic!("{uri:?} printed as {:?} does not parse: {e}", printed.expose()),
        };
        assert_eq!(again.is_srv(), cs.is_srv(), "{uri:?}");
        assert_eq!(again.hosts(), cs.hosts(), "{uri:?}");
        assert_eq!(again.database(), cs.database(), "{uri:?}");
        assert_eq!(again.credential(), cs.credential(), "{uri:?}");
        assert_eq!(again.auth_source(), cs.auth_source(), "{uri:?}");
        assert_eq!(again.tls(), cs.tls(), "{uri:?}");
        assert_eq!(again.tls_enabled(), cs.tls_enabled(), "{uri:?}");
        assert_eq!(again.options(), cs.options(), "{uri:?}");
    }
});
