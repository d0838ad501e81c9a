//! Property tests of the connection-string parser: userinfo encoded by RFC 3986 rules parses back
//! exactly, and printing a parsed connection string gives it back.

use mongodb_auth::ConnectionString;
use proptest::prelude::*;

/// RFC 3986 `userinfo = *( unreserved / pct-encoded / sub-delims / ":" )`: unreserved characters
/// and sub-delims may stay raw; `:` separates user from password, so inside either it is encoded,
/// as is everything else. With `encode_sub_delims` the sub-delims are encoded too (both are valid).
fn encode_userinfo_part(s: &str, encode_sub_delims: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let unreserved = c.is_ascii_alphanumeric() || "-._~".contains(c);
        let sub_delim = "!$&'()*+,;=".contains(c);
        if unreserved || (sub_delim && !encode_sub_delims) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_encoded_username_and_password_parse_back_exactly(
        username in "\\PC{1,24}|[\\x00-\\x7f]{1,24}",
        password in "\\PC{0,24}|[\\x00-\\x7f]{0,24}",
        encode_sub_delims in any::<bool>(),
    ) {
        let uri = format!(
            "mongodb://{}:{}@localhost/",
            encode_userinfo_part(&username, encode_sub_delims),
            encode_userinfo_part(&password, encode_sub_delims),
        );
        let cs = ConnectionString::parse(&uri).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        let credential = cs.credential().expect("userinfo configures a credential");
        prop_assert_eq!(credential.username(), Some(username.as_str()));
        prop_assert_eq!(credential.password().map(|p| p.expose()), Some(password.as_str()));
    }

    #[test]
    fn debug_and_display_never_show_the_password(password in "Q[A-Z0-9]{11}") {
        let uri = format!("mongodb://user:{password}@localhost/app?authMechanism=SCRAM-SHA-256");
        let cs = ConnectionString::parse(&uri).unwrap();
        let credential = cs.credential().unwrap();
        for shown in [format!("{cs:?}"), format!("{cs:#?}"), cs.to_string(), format!("{credential:?}"), format!("{credential:#?}")] {
            prop_assert!(!shown.contains(&password), "{}", shown);
        }
        prop_assert!(cs.to_uri().expose().contains(&password));
    }

    #[test]
    fn printed_connection_strings_parse_to_the_same_value(
        username in "\\PC{1,12}",
        password in "\\PC{0,12}",
        db in "[a-z][a-z0-9.,?=&]{0,10}",
        app in "\\PC{0,12}",
        port in 1u16..,
    ) {
        let uri = format!(
            "mongodb://{}:{}@h1:{port},[::1]/{}?appName={}&authSource=adm%26in",
            encode_userinfo_part(&username, true),
            encode_userinfo_part(&password, true),
            encode_userinfo_part(&db, true),
            encode_userinfo_part(&app, true),
        );
        let cs = ConnectionString::parse(&uri).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        let again = ConnectionString::parse(cs.to_uri().expose()).unwrap();
        prop_assert_eq!(again.credential(), cs.credential());
        prop_assert_eq!(again.hosts(), cs.hosts());
        prop_assert_eq!(again.database(), cs.database());
        prop_assert_eq!(again.options(), cs.options());
    }
}
