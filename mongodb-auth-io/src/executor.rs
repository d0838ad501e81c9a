//! The blocking adapter runs the adapters' shared async code on the calling thread: its I/O
//! blocks where the futures are polled, so they are ready at once, and only the caller's code
//! (an OIDC callback, a custom AWS provider) may make it wait. Waiting parks the thread until a
//! waker unparks it or the deadline passes; blocking callbacks run on a thread of their own so
//! that a deadline can end the wait (rule L12), never on this one.

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::callback::Runtime;

use crate::options::ConnectOptions;
use crate::person::Person;

/// Wakes the thread that waits in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    match block_on_until(future, None) {
        Some(output) => output,
        None => unreachable!("no deadline, no timeout"),
    }
}

/// Runs `future` on this thread until it completes, or until `deadline` (then `None`: the
/// future is dropped, which cancels it).
pub(crate) fn block_on_until<F: Future>(future: F, deadline: Option<Instant>) -> Option<F::Output> {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
        match deadline {
            None => std::thread::park(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                std::thread::park_timeout(left);
            }
        }
    }
}

/// The blocking adapter's [`Runtime`] for the caller's code: it sleeps on the calling thread,
/// runs blocking code on a thread of its own (so a deadline can end the wait), and answers
/// asks with blocking I/O.
#[derive(Clone, Default)]
pub struct BlockingRuntime {
    person: Person,
}

impl BlockingRuntime {
    /// A runtime that reaches the person of MONGODB-OIDC's human flows as `options` say (their
    /// browser command and observer).
    pub fn for_options(options: &ConnectOptions) -> Self {
        BlockingRuntime {
            person: Person::of(options),
        }
    }
}

impl std::fmt::Debug for BlockingRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingRuntime").finish_non_exhaustive()
    }
}

impl Runtime for BlockingRuntime {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
        // The 100 ms between two OIDC callback calls, or the device flow's polling interval:
        // the blocking adapter has nothing else to do meanwhile.
        std::thread::sleep(duration);
        std::future::ready(())
    }

    fn run_blocking<T, F>(&self, work: F) -> impl Future<Output = T> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        Spawned::start(work)
    }

    fn answer(&self, ask: Ask) -> impl Future<Output = Answer> + Send + use<> {
        std::future::ready(crate::answer::answer_for(&ask, &self.person))
    }
}

/// Blocking work on a thread of its own, as a future: waiting for it can end at a deadline,
/// and the thread finishes its work (it cannot be stopped) with nobody waiting.
struct Spawned<T> {
    result: mpsc::Receiver<T>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl<T: Send + 'static> Spawned<T> {
    fn start(work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (sender, result) = mpsc::sync_channel(1);
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let wake = waker.clone();
        // Without a thread to be had, the sender is gone with the closure: the future never
        // completes and the caller's deadline ends the wait.
        let _ = std::thread::Builder::new()
            .name("mongodb-auth callback".into())
            .spawn(move || {
                let _ = sender.send(work());
                if let Some(waker) = wake.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    waker.wake();
                }
            });
        Spawned { result, waker }
    }
}

impl<T> Future for Spawned<T> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, context: &mut Context<'_>) -> Poll<T> {
        // The waker goes in before the result is looked at, so a result sent in between wakes.
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(context.waker().clone());
        match self.result.try_recv() {
            Ok(output) => Poll::Ready(output),
            Err(_) => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_ends_the_wait_for_blocking_work() {
        let started = Instant::now();
        let slow =
            BlockingRuntime::default().run_blocking(|| std::thread::sleep(Duration::from_secs(2)));
        let waited = block_on_until(slow, Some(Instant::now() + Duration::from_millis(100)));
        assert!(waited.is_none());
        assert!(started.elapsed() < Duration::from_secs(1));
        let quick = BlockingRuntime::default().run_blocking(|| 7);
        assert_eq!(block_on(quick), 7);
    }
}
