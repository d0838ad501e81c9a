//! Arbitrary server replies, at every step of the MONGODB-OIDC flows (machine and human, with a
//! cached token or none) and of GSSAPI (with a scripted context), never panic the
//! `Authenticator`.
//!
//! The first byte picks the scenario; the rest is a list of replies, each framed by a
//! little-endian u16 length.

#![no_main]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::callback::Runtime;
use mongodb_auth::credential::Flow;
use mongodb_auth::gssapi::{ContextRequest, GssContext, GssProvider};
use mongodb_auth::oidc::{Callback, OidcClient, Token};
use mongodb_auth::{AuthOptions, Authenticator, ConnectionString, CredentialOptions, Step};

/// Everything at once: no sleep, blocking work inline, no I/O.
struct Inline;

impl Runtime for Inline {
    fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send + use<> {
        std::future::ready(())
    }

    fn run_blocking<T, F>(&self, work: F) -> impl Future<Output = T> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        std::future::ready(work())
    }

    fn answer(&self, ask: Ask) -> impl Future<Output = Answer> + Send + use<> {
        std::future::ready(ask.fail("fuzz"))
    }
}

/// The output of a future that needs nothing to wait for, or `None`.
fn now<F: Future>(future: F) -> Option<F::Output> {
    match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

struct Scripted(u8);

impl GssContext for Scripted {
    fn step(&mut self, _input: Option<&[u8]>) -> mongodb_auth::Result<Option<Vec<u8>>> {
        self.0 = self.0.saturating_add(1);
        Ok((self.0 < 3).then(|| vec![self.0; 4]))
    }
    fn is_complete(&self) -> bool {
        self.0 >= 2
    }
    fn wrap(&mut self, message: &[u8]) -> mongodb_auth::Result<Vec<u8>> {
        Ok(message.to_vec())
    }
    fn unwrap(&mut self, message: &[u8]) -> mongodb_auth::Result<Vec<u8>> {
        Ok(message.to_vec())
    }
}

struct Provider;

impl GssProvider for Provider {
    fn client_context(&self, _: &ContextRequest) -> mongodb_auth::Result<Box<dyn GssContext>> {
        Ok(Box::new(Scripted(0)))
    }
}

fn replies(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [a, b, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
        let (reply, tail) = rest.split_at(len);
        out.push(reply);
        data = tail;
        if out.len() == 16 {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&scenario, rest)) = data.split_first() else { return };
    let callback = Callback::new(|_| async {
        Ok(Token::new("token").with_refresh_token("refresh"))
    });
    let client = OidcClient::new();
    let (uri, credential_options) = match scenario % 4 {
        0 => ("mongodb://localhost/?authMechanism=MONGODB-OIDC", CredentialOptions::new().oidc_callback(Flow::Machine)),
        1 => ("mongodb://localhost/?authMechanism=MONGODB-OIDC", CredentialOptions::new().oidc_callback(Flow::Human)),
        2 => {
            client.seed(Token::new("cached"));
            ("mongodb://u@localhost/?authMechanism=MONGODB-OIDC", CredentialOptions::new().oidc_callback(Flow::Human))
        }
        _ => ("mongodb://u%40R:pw@localhost/?authMechanism=GSSAPI", CredentialOptions::new()),
    };
    let cs = ConnectionString::parse_with_credential_options(uri, credential_options)
        .expect("the scenarios are valid");
    let mut options = AuthOptions::default()
        .oidc_client(client)
        .gssapi_provider(Arc::new(Provider))
        .server_host("localhost");
    if scenario % 4 != 3 {
        options = options.oidc_callback(callback);
    }
    let Ok(mut auth) = Authenticator::new(cs.credential().expect("a credential"), options) else {
        return;
    };
    if auth.hello_fields().is_err() {
        return;
    }
    let mut replies = replies(rest).into_iter();
    let Some(hello) = replies.next() else { return };
    let mut step = auth.handle_hello_reply(hello);
    for _ in 0..32 {
        step = match step {
            Ok(Step::Send(_)) => match replies.next() {
                Some(reply) => auth.handle_reply(reply),
                None => return,
            },
            Ok(Step::Callback(request)) => match now(request.run(&Inline)) {
                Some(output) => auth.handle_callback(output),
                None => return,
            },
            Ok(Step::Job(job)) => auth.handle_job(job.run()),
            Ok(Step::Ask(_)) => return,
            Ok(Step::Done(_)) | Err(_) => return,
            Ok(_) => return,
        };
    }
});
