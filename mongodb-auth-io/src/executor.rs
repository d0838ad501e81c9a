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

use crate::answer::Answerer;
use crate::options::ConnectOptions;

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
    answerer: Answerer,
}

impl BlockingRuntime {
    /// A runtime that reaches the person of MONGODB-OIDC's human flows as `options` say (their
    /// browser command and observer). (The adapters' own runtimes also answer within what is
    /// left of a connect's `timeoutMS`.)
    pub fn for_options(options: &ConnectOptions) -> Self {
        BlockingRuntime {
            answerer: Answerer::of(options),
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
        // the blocking adapter has nothing else to do meanwhile. Never past the connect's
        // `timeoutMS` where it binds (not a person's login), since the wait holds the caller's
        // thread; but never nothing either, so code that retries on a sleep after `timeoutMS`
        // does not spin.
        let nap = duration.min(Duration::from_millis(10));
        std::thread::sleep(self.answerer.within(duration).max(nap));
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
        std::future::ready(self.answerer.answer(&ask))
    }
}

/// Blocking work on a thread of its own, as a future: waiting for it can end at a deadline,
/// and the thread finishes its work (it cannot be stopped) with nobody waiting.
struct Spawned<T> {
    result: mpsc::Receiver<T>,
    waker: Arc<Mutex<Option<Waker>>>,
    /// The thread, whose panic goes on in the waiter, as tokio's `spawn_blocking` raises it in
    /// the task that awaits it.
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Wakes the waiter of a [`Spawned`] when its thread ends, however it ends: a panic too, so
/// nobody waits for a result that will not come.
struct WakeOnExit(Arc<Mutex<Option<Waker>>>);

impl Drop for WakeOnExit {
    fn drop(&mut self) {
        if let Some(waker) = self.0.lock().unwrap_or_else(PoisonError::into_inner).take() {
            waker.wake();
        }
    }
}

impl<T: Send + 'static> Spawned<T> {
    fn start(work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (sender, result) = mpsc::sync_channel(1);
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let wake = WakeOnExit(waker.clone());
        // The work waits here until a thread takes it, so that without a thread to be had it
        // can still run, on this one (where no deadline can end it).
        let work = Arc::new(Mutex::new(Some(work)));
        let (for_thread, to_thread) = (work.clone(), sender.clone());
        let thread = std::thread::Builder::new()
            .name("mongodb-auth callback".into())
            .spawn(move || {
                // Dropped last, however the work ends: the sender is gone by then, so the
                // waiter it wakes sees a result or a disconnection, never an empty channel.
                let _wake = wake;
                let sender = to_thread;
                let work = for_thread
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(work) = work {
                    let _ = sender.send(work());
                }
            })
            .ok();
        if thread.is_none() {
            let work = work.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(work) = work {
                let _ = sender.send(work());
            }
        }
        Spawned {
            result,
            waker,
            thread,
        }
    }
}

impl<T> Future for Spawned<T> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, context: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        // The waker goes in before the result is looked at, so a result sent in between wakes.
        *this.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(context.waker().clone());
        match this.result.try_recv() {
            Ok(output) => Poll::Ready(output),
            Err(mpsc::TryRecvError::Empty) => Poll::Pending,
            // Every sender is gone without a result: the work panicked on its thread.
            Err(mpsc::TryRecvError::Disconnected) => match this.thread.take().map(|t| t.join()) {
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                _ => Poll::Pending,
            },
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

    /// A blocking callback that panics: its panic goes on in the waiter (as with tokio's
    /// `spawn_blocking`), which neither waits for ever nor reports a timeout.
    #[test]
    fn a_panic_of_blocking_work_reaches_the_waiter() {
        let (done, waited) = mpsc::channel();
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(|| {
                let panicking = BlockingRuntime::default().run_blocking(|| -> u8 {
                    std::panic::panic_any("the caller's callback failed")
                });
                block_on(panicking)
            });
            let _ = done.send(outcome.map_err(|panic| panic.downcast_ref::<&str>().copied()));
        });
        let outcome = waited
            .recv_timeout(Duration::from_secs(10))
            .expect("the waiter was never woken");
        assert_eq!(outcome, Err(Some("the caller's callback failed")));
    }
}
