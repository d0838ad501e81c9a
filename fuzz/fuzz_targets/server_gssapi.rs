//! The server's intake of GSSAPI client messages: arbitrary `saslStart` and `saslContinue`
//! payloads (binary or base64 strings) against an acceptor that follows a script. Nothing
//! panics, every reply is a document, and a login succeeds only through the whole scripted
//! conversation.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bson::{rawdoc, Binary, RawDocument};
use bson::spec::BinarySubtype;
use libfuzzer_sys::fuzz_target;
use mongodb_auth::gssapi::GssContext;
use mongodb_auth::GssapiError;
use mongodb_auth::server::gssapi::{AcceptorContext, GssAcceptor, GssapiSettings};
use mongodb_auth::server::{Session, SessionConfig, UserStore};

/// Completes on the token `AP-REQ`, answering `AP-REP`; wraps by prefixing `W`.
struct Scripted {
    complete: bool,
}

impl GssContext for Scripted {
    fn step(&mut self, input: Option<&[u8]>) -> mongodb_auth::Result<Option<Vec<u8>>> {
        if input == Some(b"AP-REQ") && !self.complete {
            self.complete = true;
            Ok(Some(b"AP-REP".to_vec()))
        } else {
            Err(GssapiError::Context { message: "bad token".into() }.into())
        }
    }
    fn is_complete(&self) -> bool {
        self.complete
    }
    fn wrap(&mut self, message: &[u8]) -> mongodb_auth::Result<Vec<u8>> {
        Ok([b"W", message].concat())
    }
    fn unwrap(&mut self, message: &[u8]) -> mongodb_auth::Result<Vec<u8>> {
        message
            .strip_prefix(b"W")
            .map(<[u8]>::to_vec)
            .ok_or_else(|| GssapiError::Context { message: "not wrapped".into() }.into())
    }
}

impl AcceptorContext for Scripted {
    fn client_principal(&self) -> mongodb_auth::Result<String> {
        Ok("fuzz@REALM".into())
    }
    fn service_principal(&self) -> mongodb_auth::Result<String> {
        Ok("mongodb/localhost@REALM".into())
    }
}

struct Acceptor;

impl GssAcceptor for Acceptor {
    fn accept(&self) -> mongodb_auth::Result<Box<dyn AcceptorContext>> {
        Ok(Box::new(Scripted { complete: false }))
    }
}

fn config() -> Arc<SessionConfig> {
    static CONFIG: OnceLock<Arc<SessionConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut config = SessionConfig::new(UserStore::new());
            config.gssapi = Some(GssapiSettings::new(Arc::new(Acceptor), "mongodb").user("fuzz@REALM"));
            Arc::new(config)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let mut session = Session::new(config(), 1);
    let now = SystemTime::UNIX_EPOCH;
    // Messages separated by 0xff; the first byte of each picks binary (even) or string (odd).
    let mut id = 1;
    let mut steps = 0;
    for (index, message) in data.split(|b| *b == 0xff).take(8).enumerate() {
        let (kind, payload) = message.split_first().unwrap_or((&0, &[]));
        let command = match (index, kind % 2) {
            (0, 0) => rawdoc! { "saslStart": 1, "mechanism": "GSSAPI", "payload": Binary { subtype: BinarySubtype::Generic, bytes: payload.to_vec() } },
            (0, _) => rawdoc! { "saslStart": 1, "mechanism": "GSSAPI", "payload": String::from_utf8_lossy(payload).into_owned() },
            (_, 0) => rawdoc! { "saslContinue": 1, "conversationId": id, "payload": Binary { subtype: BinarySubtype::Generic, bytes: payload.to_vec() } },
            (_, _) => rawdoc! { "saslContinue": 1, "conversationId": id, "payload": String::from_utf8_lossy(payload).into_owned() },
        };
        let step = session.handle_command("$external", command.as_bytes(), now);
        let Some(reply) = mongodb_auth::fuzzing::settle_inline(&mut session, step, now) else {
            return;
        };
        let doc = RawDocument::from_bytes(&reply).expect("a reply is a document");
        if let Ok(reply_id) = doc.get_i32("conversationId") {
            id = reply_id;
        }
        steps += 1;
    }
    if session.is_authenticated() {
        // AP-REQ, the empty answer to AP-REP, then the wrapped choice of "none".
        assert!(steps >= 3);
    }
});
