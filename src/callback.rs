//! The caller's own code, as the machines call it: an OIDC callback, a custom AWS credential
//! provider. Such code may be async (awaited where the login runs, with no thread of its own)
//! or blocking (run where blocking is allowed: a runtime's blocking pool, or inline in a
//! blocking program). The authenticator hands it out as
//! [`Step::Callback`](crate::Step::Callback); the caller runs the request with its
//! [`Runtime`] and passes the output back.
//!
//! The core never sleeps, spawns or blocks: what a callback request needs from the outside (a
//! timer for the 100 ms between two OIDC callback calls, a place for blocking code, the answer
//! to a built-in environment's ask) comes from the caller's [`Runtime`].

// The core's own mechanisms that call the caller's code are MONGODB-AWS and MONGODB-OIDC.
#![cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(dead_code))]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::ask::{Answer, Ask};

/// A boxed future that can move between threads: what an async callback returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a callback could not do its work: anything that is an error.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// What a callback request needs from the runtime it runs on. The adapters of `mongodb-auth-io`
/// have one for blocking code and one for tokio; a driver writes its own in a few lines.
///
/// The futures it returns own what they need (they borrow nothing of the runtime), so a login
/// future stays `Send` whatever holds it.
pub trait Runtime: Sync {
    /// Waits `duration` without blocking the executor.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<Self>;

    /// Runs blocking `work` where blocking is allowed (tokio's `spawn_blocking`, or inline in a
    /// blocking program).
    fn run_blocking<T, F>(&self, work: F) -> impl Future<Output = T> + Send + use<Self, T, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static;

    /// Answers an ask (a built-in OIDC environment's token file or metadata endpoint).
    fn answer(&self, ask: Ask) -> impl Future<Output = Answer> + Send + use<Self>;
}

/// Code of the caller taking `I` and returning `O`: async, or blocking.
pub(crate) enum Code<I, O> {
    Async(Arc<dyn Fn(I) -> BoxFuture<O> + Send + Sync>),
    Blocking(Arc<dyn Fn(I) -> O + Send + Sync>),
}

impl<I, O> Clone for Code<I, O> {
    fn clone(&self) -> Self {
        match self {
            Code::Async(f) => Code::Async(f.clone()),
            Code::Blocking(f) => Code::Blocking(f.clone()),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Code<I, O> {
    pub(crate) fn from_async<F, Fut>(f: F) -> Self
    where
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        Code::Async(Arc::new(move |input| Box::pin(f(input))))
    }

    pub(crate) fn from_blocking<F>(f: F) -> Self
    where
        F: Fn(I) -> O + Send + Sync + 'static,
    {
        Code::Blocking(Arc::new(f))
    }

    /// Calls the code (awaited in place when async, on the runtime's blocking pool otherwise),
    /// then `then` with its output, right where the code ran: even when the caller stops
    /// waiting for a blocking call (which cannot be stopped), `then` still runs, and what it
    /// owns is held until then (the OIDC turn is held that way while the token is cached). The
    /// future owns what it needs.
    pub(crate) fn call<T, F, R>(&self, input: I, runtime: &R, then: F) -> BoxFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(O) -> T + Send + 'static,
        R: Runtime + 'static,
    {
        match self {
            Code::Async(f) => {
                let call = f(input);
                Box::pin(async move { then(call.await) })
            }
            Code::Blocking(f) => {
                let f = f.clone();
                Box::pin(runtime.run_blocking(move || then(f(input))))
            }
        }
    }

    pub(crate) fn is_blocking(&self) -> bool {
        matches!(self, Code::Blocking(_))
    }
}
