use super::*;
use crate::AuthMechanism;

fn parse(uri: &str) -> ConnectionString {
    ConnectionString::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
}

#[test]
fn query_may_follow_the_hosts_without_a_slash() {
    let cs = parse("mongodb://example.com?tls=true&appName=x");
    assert_eq!(cs.tls().enabled, Some(true));
    assert_eq!(cs.option("APPNAME"), Some("x"));
    assert_eq!(cs.database(), None);
}

#[test]
fn userinfo_errors_never_echo_the_password() {
    for uri in [
        "mongodb://alice:Zq9:x@h",
        "mongodb://alice:Zq9@x@h",
        "mongodb://alice:Zq9%zz@h",
        "mongodb://alice:Zq9#@h",
    ] {
        let err = ConnectionString::parse(uri).unwrap_err();
        let message = format!("{err} {err:?}");
        assert!(!message.contains("Zq9"), "{message}");
        assert!(
            matches!(err, Error::InvalidUserinfo { .. }),
            "{uri}: {err:?}"
        );
    }
}

#[test]
fn empty_userinfo_means_credentials_were_configured() {
    for uri in ["mongodb://@localhost.com/", "mongodb://:@localhost.com/"] {
        let err = ConnectionString::parse(uri).unwrap_err();
        assert!(
            matches!(err, Error::InvalidCredential { .. }),
            "{uri}: {err:?}"
        );
    }
}

#[test]
fn repeated_and_unknown_options_are_kept_with_warnings() {
    let cs = parse(
        "mongodb://h/?replicaSet=a&replicaSet=b&foo=bar&readPreferenceTags=dc:ny&readPreferenceTags=",
    );
    assert_eq!(cs.option("replicaset"), Some("b"));
    assert_eq!(cs.option("foo"), Some("bar"));
    assert_eq!(
        cs.option_values("readPreferenceTags").collect::<Vec<_>>(),
        ["dc:ny", ""]
    );
    assert_eq!(
        cs.warnings(),
        [
            Warning::RepeatedOption {
                key: "replicaSet".into()
            },
            Warning::UnknownOption { key: "foo".into() },
        ]
    );
}

#[test]
fn invalid_values_are_dropped_with_a_warning() {
    let cs = parse("mongodb://h/?connectTimeoutMS=-2&journal=&w=majority");
    assert_eq!(cs.option("connectTimeoutMS"), None);
    assert_eq!(cs.option("journal"), None);
    assert_eq!(cs.option("w"), Some("majority"));
    assert_eq!(cs.warnings().len(), 2);
}

#[test]
fn duplicate_hosts_are_dropped_with_a_warning() {
    let cs = parse("mongodb://a:27017,A,b");
    assert_eq!(cs.hosts().len(), 2);
    assert_eq!(
        cs.warnings(),
        [Warning::DuplicateHost {
            host: "a:27017".into()
        }]
    );
}

#[test]
fn mechanism_properties_split_before_decoding() {
    let cs = parse(
        "mongodb://localhost?authMechanism=MONGODB-OIDC&authMechanismProperties=TOKEN_RESOURCE:mongodb://host1%2Chost2,ENVIRONMENT:azure",
    );
    let props = cs.credential().unwrap().mechanism_properties();
    assert_eq!(props.get("TOKEN_RESOURCE"), Some("mongodb://host1,host2"));
    assert_eq!(props.get("environment"), Some("azure"));
    assert_eq!(
        cs.warnings(),
        [Warning::CommaInPropertyValue {
            property: "TOKEN_RESOURCE".into()
        }]
    );
}

#[test]
fn code_only_properties_are_refused_in_the_uri() {
    let err = ConnectionString::parse(
        "mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,ALLOWED_HOSTS:x",
    )
    .unwrap_err();
    assert!(err.to_string().contains("only be set in code"), "{err}");
}

#[test]
fn gssapi_service_name_alias() {
    let cs = parse("mongodb://u%40R@h/?authMechanism=GSSAPI&gssapiServiceName=other");
    let cred = cs.credential().unwrap();
    assert_eq!(
        cred.mechanism_properties().get("SERVICE_NAME"),
        Some("other")
    );
    assert!(matches!(cs.warnings(), [Warning::DeprecatedOption { .. }]));
}

/// A `tls` or `ssl` whose value cannot be read (empty included) is refused, where the
/// connection-string specification would have it ignored with a warning: ignoring it would
/// leave the connection without TLS. The other TLS settings are ignored with a warning, as the
/// specification's tests require, and TLS stays on as any TLS setting turns it on.
#[test]
fn an_unreadable_tls_switch_is_refused_not_ignored() {
    for uri in [
        "mongodb://u:p@h/?tls=TRUE",
        "mongodb://u:p@h/?tls=1",
        "mongodb://u:p@h/?ssl=yes",
        "mongodb://u:p@h/?tls=true&ssl=on",
        "mongodb+srv://u:p@a.b.c/?tls=False",
    ] {
        let error = ConnectionString::parse(uri).unwrap_err();
        let named = |option: &str| option == "tls" || option == "ssl";
        assert!(
            matches!(&error, Error::InvalidOption { option, .. } if named(option)),
            "{uri}: {error:?}"
        );
        assert!(!error.to_string().contains("u:p"), "{error}");
    }
    let empty = ConnectionString::parse("mongodb://u:p@h/?tls=").unwrap_err();
    assert!(matches!(empty, Error::InvalidOption { .. }), "{empty:?}");
    // Another TLS setting that cannot be read is ignored, its default the safe side, but TLS
    // was meant: it is on.
    for uri in [
        "mongodb://h/?tlsAllowInvalidCertificates=yes",
        "mongodb://h/?tlsInsecure=1",
        "mongodb://h/?tlsAllowInvalidHostnames=False",
        "mongodb://h/?tlsCAFile=",
    ] {
        let ignored = parse(uri);
        assert!(ignored.tls_enabled(), "{uri}");
        assert!(ignored.tls().verify_certificates(), "{uri}");
        assert!(ignored.tls().verify_hostnames(), "{uri}");
        assert_eq!(ignored.warnings().len(), 1, "{uri}");
    }
    // Unless TLS is turned off in so many words.
    assert!(!parse("mongodb://h/?tls=false&tlsInsecure=1").tls_enabled());
}

/// The uri-options table's ranges: `maxStalenessSeconds` is -1 or at least 90 (between, it is
/// ignored with a warning); `wTimeoutMS` and `timeoutMS` are any non-negative 64-bit integer.
#[test]
fn staleness_and_write_timeouts_take_the_table_ranges() {
    for (value, kept) in [
        ("-1", true),
        ("90", true),
        ("120", true),
        ("0", false),
        ("45", false),
        ("89", false),
        ("-2", false),
    ] {
        let cs = parse(&format!("mongodb://h/?maxStalenessSeconds={value}"));
        assert_eq!(cs.option("maxStalenessSeconds").is_some(), kept, "{value}");
        assert_eq!(cs.warnings().is_empty(), kept, "{value}");
    }
    for option in ["wTimeoutMS", "timeoutMS"] {
        let long = parse(&format!("mongodb://h/?{option}=5000000000"));
        assert_eq!(long.option(option), Some("5000000000"));
        assert!(long.warnings().is_empty());
        let negative = parse(&format!("mongodb://h/?{option}=-1"));
        assert!(!negative.warnings().is_empty(), "{option}");
    }
}

#[test]
fn tls_rules() {
    assert!(parse("mongodb+srv://a.b.c").tls_enabled());
    assert!(!parse("mongodb+srv://a.b.c/?tls=false").tls_enabled());
    assert!(!parse("mongodb://h").tls_enabled());
    assert!(parse("mongodb://h/?tlsCAFile=ca.pem").tls_enabled());
    assert!(ConnectionString::parse("mongodb://h/?tls=false&tlsCAFile=ca.pem").is_err());
    assert!(ConnectionString::parse("mongodb://h/?tls=true&ssl=false").is_err());
    assert!(
        ConnectionString::parse("mongodb://h/?tlsInsecure=false&tlsAllowInvalidHostnames=false")
            .is_err()
    );
    let cs = parse("mongodb://h/?tlsCertificateKeyFilePassword=hunter2");
    assert!(!format!("{cs:?}{cs}").contains("hunter2"));
}

#[test]
fn in_code_options_win_and_are_not_decoded() {
    let cs = parse("mongodb://uri-user:uri-pass@h/app?authMechanism=SCRAM-SHA-1")
        .with_credential_options(
            CredentialOptions::new()
                .password("and%20or")
                .auth_mechanism(AuthMechanism::ScramSha256),
        )
        .unwrap();
    let cred = cs.credential().unwrap();
    assert_eq!(cred.username(), Some("uri-user"));
    assert_eq!(cred.password().unwrap().expose(), "and%20or");
    assert_eq!(cred.mechanism(), Some(AuthMechanism::ScramSha256));
    assert_eq!(cred.source(), "app");
}

#[test]
fn in_code_options_are_validated_too() {
    let err = parse("mongodb://h")
        .with_credential_options(CredentialOptions::new().auth_mechanism(AuthMechanism::Plain))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCredential { .. }), "{err:?}");
}

#[test]
fn printing_round_trips() {
    for uri in [
        "mongodb://alice:p%40ss%3Aw%2Frd@example.com:27018,[::1],%2Ftmp%2Fm.sock/my%3Ddb?replicaSet=rs&readPreferenceTags=dc:ny,rack:1&readPreferenceTags=",
        "mongodb+srv://u:p@cluster.example.com/?authSource=admin&tls=false&srvServiceName=custom",
        "mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:mongodb%3A%2F%2Fx%2Cy",
        "mongodb://h/?tlsCAFile=%2Fetc%2Fca.pem&tlsCertificateKeyFilePassword=a%26b&proxyHost=p&proxyUsername=u&proxyPassword=x%3Dy",
        "mongodb://k:s@h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:t%2Bk",
        // An unreadable TLS setting, ignored, still means TLS, printed back too.
        "mongodb://h/?tlsInsecure=1",
        "mongodb://h/?tls=false&tlsCAFile=",
    ] {
        let cs = parse(uri);
        let printed = cs.to_uri();
        let again = parse(printed.expose());
        assert_eq!(again.hosts(), cs.hosts(), "{}", printed.expose());
        assert_eq!(again.credential(), cs.credential());
        assert_eq!(again.tls(), cs.tls());
        assert_eq!(
            again.tls_enabled(),
            cs.tls_enabled(),
            "{}",
            printed.expose()
        );
        assert_eq!(again.options(), cs.options());
        assert_eq!(again.database(), cs.database());
    }
}

#[test]
fn display_and_debug_redact_every_secret() {
    let cs = parse(
        "mongodb://k:S3CRET@h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:T0KEN&proxyHost=p&proxyUsername=u&proxyPassword=PR0XY&tlsCertificateKeyFilePassword=K3Y",
    );
    let shown = format!("{cs} {cs:?} {:?}", cs.credential());
    for secret in ["S3CRET", "T0KEN", "PR0XY", "K3Y"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(cs.to_uri().expose().contains("S3CRET"));
}

#[test]
fn an_unescaped_ampersand_in_a_password_option_is_not_echoed() {
    for uri in [
        "mongodb://h/?tlsCertificateKeyFilePassword=pa&S3CR3T",
        "mongodb://h/?proxyHost=p&proxyPassword=pa&S3CR3T&w=1",
    ] {
        let err = ConnectionString::parse(uri).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(
            matches!(&err, Error::InvalidOption { option, .. } if option.starts_with('#')),
            "{shown}"
        );
        assert!(!shown.contains("S3CR3T"), "{shown}");
    }
}

#[test]
fn unescaped_slash_or_question_mark_in_a_password_is_not_echoed() {
    for uri in [
        "mongodb://alice:Zq9/x@db",
        "mongodb://alice:12345/x@db",
        "mongodb://alice:Zq9?x@db",
        "mongodb://alice:Zq9?x@db/?w=1",
        // The `@` in what would be an option's value, with or without a `/` after the hosts.
        "mongodb://alice:Zq9?x=1@db/",
        "mongodb://alice:Zq9?appName=x@db",
        "mongodb://alice:Zq9/?appName=x@db",
    ] {
        let err = ConnectionString::parse(uri).unwrap_err();
        assert!(
            matches!(err, Error::InvalidUserinfo { .. }),
            "{uri}: {err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("Zq9") && !shown.contains("12345"),
            "{shown}"
        );
    }
    // An `@` in an option value is fine, and a host list that does not parse is named when
    // no `@` follows it.
    assert_eq!(
        parse("mongodb://h/db?replicaSet=a@b").option("replicaSet"),
        Some("a@b")
    );
    assert_eq!(
        parse("mongodb://h?appName=me@example").option("appName"),
        Some("me@example")
    );
    assert!(matches!(
        ConnectionString::parse("mongodb://h:port/?w=1"),
        Err(Error::InvalidHost { host, .. }) if host == "h:port"
    ));
}

/// The handshake specification's limit: an `appName` longer than 128 bytes, which a server
/// would refuse in `hello`, is an invalid value, dropped with a warning as the others are.
#[test]
fn an_application_name_is_at_most_128_bytes() {
    let longest = "a".repeat(crate::handshake::MAX_APP_NAME_LEN);
    let cs = parse(&format!("mongodb://h/?appName={longest}"));
    assert_eq!(cs.option("appName"), Some(longest.as_str()));
    assert!(cs.warnings().is_empty(), "{:?}", cs.warnings());
    // Counted in bytes, after percent-decoding: 64 two-byte characters and one more byte.
    let cs = parse(&format!("mongodb://h/?appName={}x", "%C3%A9".repeat(64)));
    assert_eq!(cs.option("appName"), None);
    assert!(
        matches!(cs.warnings(), [Warning::InvalidValue { key, .. }] if key == "appName"),
        "{:?}",
        cs.warnings()
    );
}

#[test]
fn long_lists_parse() {
    // 20,000 hosts, options and properties (duplicates are found with sets, not pairwise).
    let hosts: Vec<String> = (0..20_000).map(|i| format!("h{i}")).collect();
    let options: Vec<String> = (0..20_000).map(|i| format!("k{i}=v")).collect();
    let props: Vec<String> = (0..20_000).map(|i| format!("P{i}:v")).collect();
    let cs = parse(&format!(
        "mongodb://{}/?{}",
        hosts.join(","),
        options.join("&")
    ));
    assert_eq!(cs.hosts().len(), 20_000);
    assert_eq!(cs.options().len(), 20_000);
    // SCRAM takes no properties, so the list parses and is then refused.
    let err = ConnectionString::parse(&format!(
        "mongodb://u:p@h/?authMechanismProperties={}",
        props.join(",")
    ))
    .unwrap_err();
    assert!(matches!(err, Error::InvalidCredential { .. }), "{err:?}");
}

/// What PyMongo makes of these connection strings, read the same way (found by comparing the
/// two over the spec tests' strings and variations of them).
mod as_pymongo_reads_them {
    use super::*;

    #[test]
    fn a_semicolon_separates_options_in_a_query_without_an_ampersand() {
        let cs = parse("mongodb://h/?tls=true;appName=x");
        assert_eq!(cs.tls().enabled, Some(true));
        assert_eq!(cs.option("appName"), Some("x"));
        assert!(cs.warnings().is_empty(), "{:?}", cs.warnings());
        let mixed = ConnectionString::parse("mongodb://h/?tls=true;appName=x&w=1").unwrap_err();
        assert!(
            matches!(&mixed, Error::InvalidOption { rule, .. } if rule.contains("`;`")),
            "{mixed:?}"
        );
        // Encoded, a `;` is a value's.
        assert_eq!(
            parse("mongodb://h/?appName=a%3Bb&w=1").option("appName"),
            Some("a;b")
        );
    }

    #[test]
    fn mechanism_names_are_matched_as_written() {
        let err =
            ConnectionString::parse("mongodb://u:p@h/?authMechanism=scram-sha-256").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidOption { rule, .. } if rule.contains("written `SCRAM-SHA-256`")),
            "{err:?}"
        );
        assert!(ConnectionString::parse("mongodb://h/?authMechanism=mongodb-x509").is_err());
    }

    #[test]
    fn default_names_negotiation() {
        let cs = parse("mongodb://u:p@h/?authMechanism=DEFAULT");
        let credential = cs.credential().unwrap();
        assert_eq!(credential.mechanism(), None);
        assert_eq!(credential.source(), "admin");
        // As a mechanism it configures a credential, which then needs its username.
        let err = ConnectionString::parse("mongodb://h/?authMechanism=DEFAULT").unwrap_err();
        assert!(matches!(err, Error::InvalidCredential { .. }), "{err:?}");
    }

    #[test]
    fn empty_property_items_and_values_are_refused() {
        for properties in [
            "SERVICE_NAME:a,,SERVICE_REALM:b",
            "SERVICE_NAME:a,",
            ",SERVICE_NAME:a",
            "SERVICE_NAME:",
            ":a",
        ] {
            let uri =
                format!("mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties={properties}");
            let err = ConnectionString::parse(&uri).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidOption { rule, .. } if rule.contains("KEY:VALUE")),
                "{properties}: {err:?}"
            );
        }
        let azure = "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:";
        assert!(ConnectionString::parse(azure).is_err());
    }

    #[test]
    fn an_empty_password_is_none_for_a_mechanism_named() {
        let password_of = |uri: &str| {
            parse(uri)
                .credential()
                .unwrap()
                .password()
                .map(|p| p.expose().to_owned())
        };
        // Kerberos then uses the ticket cache, not the password "".
        assert_eq!(password_of("mongodb://u:@h/?authMechanism=GSSAPI"), None);
        assert_eq!(
            password_of("mongodb://CN=u:@h/?authMechanism=MONGODB-X509"),
            None
        );
        assert_eq!(
            password_of(
                "mongodb://u:@h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:r"
            ),
            None
        );
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "MONGODB-AWS"] {
            let uri = format!("mongodb://u:@h/?authMechanism={mechanism}");
            let err = ConnectionString::parse(&uri).unwrap_err();
            assert!(
                matches!(err, Error::InvalidCredential { .. }),
                "{uri}: {err:?}"
            );
        }
        // Negotiated, it parses as the connection-string tests require, and is refused when
        // a login would start.
        assert_eq!(password_of("mongodb://u:@h/").as_deref(), Some(""));
        let credential = parse("mongodb://u:@h/").credential().unwrap().clone();
        let refused = crate::Authenticator::new(&credential, crate::AuthOptions::default());
        assert!(matches!(refused, Err(Error::InvalidCredential { .. })));
    }

    #[test]
    fn a_dotted_path_authenticates_against_its_database() {
        let source_of = |uri: &str| parse(uri).credential().unwrap().source().to_owned();
        assert_eq!(source_of("mongodb://u:p@h/db.coll"), "db");
        assert_eq!(source_of("mongodb://u:p@h/db.coll.more"), "db");
        assert_eq!(source_of("mongodb://u:p@h/.db"), "admin");
        assert_eq!(
            source_of("mongodb://u:p@h/ext.coll?authMechanism=PLAIN"),
            "ext"
        );
        assert_eq!(
            source_of("mongodb://u:p@h/.x?authMechanism=PLAIN"),
            "$external"
        );
        // The database as written is kept (the connection-string tests read it back).
        assert_eq!(parse("mongodb://u:p@h/db.coll").database(), Some("db.coll"));
        assert_eq!(source_of("mongodb://u:p@h/db.coll?authSource=x.y"), "x.y");
    }
}
