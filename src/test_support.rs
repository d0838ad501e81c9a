//! What the core's unit tests share.

use std::time::Duration;

/// Runs `work` on a thread of its own and returns its result, failing the test if it has not
/// finished within `limit`. For the tests of inputs that once cost quadratic time: the limit only
/// turns such a hang into a failure, far above what the work takes now; it is no measure of
/// speed.
pub(crate) fn finishes_within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    result
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the work did not finish within {limit:?}"))
}
