//! What a MONGODB-AWS client conversation costs beyond the SigV4 signature it carries, measured
//! in the same run.
//!
//! `cargo bench --features aws --bench aws`. `conversation_cached_credentials` is the client's
//! whole conversation with credentials in hand (client-first, reading server-first, signing,
//! client-final); `sigv4_alone` signs the same request with `aws-sigv4` directly, its floor.
//! The claim checked in the notes: the conversation costs at most 1.5x the signature.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use criterion::{Criterion, criterion_group, criterion_main};
use mongodb_auth::Secret;
use mongodb_auth::aws::{ClientFirst, Credentials};
use mongodb_auth::random;

const HOST: &str = "sts.amazonaws.com";
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

fn aws(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let credentials = Credentials::new(
        "ASIAEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Some(Secret::new("FwoGZXIvYXdzEXAMPLETOKEN")),
    );
    // The client nonce is fixed, so one server-first answers every conversation.
    let fixed = random::from_fn(|bytes: &mut [u8]| bytes.fill(7));
    let mut server_nonce = vec![7u8; 32];
    server_nonce.extend_from_slice(&[9; 32]);
    let mut server_first = bson::rawdoc! { "h": HOST };
    server_first.append(
        bson::raw::cstr!("s"),
        bson::RawBinaryRef {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: &server_nonce,
        },
    );
    let server_first = server_first.into_bytes();

    let mut group = c.benchmark_group("aws_client");
    group.bench_function("conversation_cached_credentials", |b| {
        b.iter(|| {
            let (client_first, client) = ClientFirst::start(&mut fixed.clone());
            black_box(client_first);
            black_box(client.finish(&server_first, &credentials, now).unwrap())
        })
    });

    // The floor: the same request signed with aws-sigv4, nothing else.
    let nonce = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&server_nonce)
    };
    let length = BODY.len().to_string();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", length.as_str()),
        ("Host", HOST),
        ("X-MongoDB-Server-Nonce", nonce.as_str()),
        ("X-MongoDB-GS2-CB-Flag", "n"),
    ];
    group.bench_function("sigv4_alone", |b| {
        b.iter(|| {
            let identity = aws_credential_types::Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key().expose(),
                credentials.session_token().map(|t| t.expose().to_owned()),
                None,
                "bench",
            )
            .into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("sts")
                .time(now)
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let request = SignableRequest::new(
                "POST",
                "https://sts.amazonaws.com/",
                headers.iter().copied(),
                SignableBody::Bytes(BODY.as_bytes()),
            )
            .unwrap();
            black_box(sign(request, &params).unwrap().into_parts())
        })
    });
    group.finish();
}

criterion_group!(benches, aws);
criterion_main!(benches);
