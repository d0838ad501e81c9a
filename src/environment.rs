//! The process environment and the clock, as the machines take them: through traits of this
//! crate, so a test (or a driver with its own notion of either) can replace them; and the
//! deadline a timeout sets, for the machines and the adapters alike.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use mongodb_auth::environment::{Clock, Environment, FixedClock, MapEnvironment};
//!
//! let env = MapEnvironment::from([("AWS_ACCESS_KEY_ID", "AKID")]);
//! assert_eq!(env.var("AWS_ACCESS_KEY_ID").as_deref(), Some("AKID"));
//! let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// Environment variables, read when a machine needs them (MONGODB-AWS reads its credentials
/// fresh at each login).
pub trait Environment: Send + Sync {
    /// The variable's value; `None` when unset or not UTF-8.
    fn var(&self, name: &str) -> Option<String>;

    /// The variable's value when it is set and not empty: for the variables whose
    /// specifications count one set to nothing (`AWS_ACCESS_KEY_ID=`, `VERCEL=`) as unset.
    fn populated(&self, name: &str) -> Option<String> {
        self.var(name).filter(|value| !value.is_empty())
    }
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests. `Debug` shows their names only: a value may be a
/// secret (`AWS_SECRET_ACCESS_KEY`).
#[derive(Clone, Default)]
pub struct MapEnvironment(HashMap<String, String>);

impl std::fmt::Debug for MapEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("MapEnvironment").field(&names).finish()
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for MapEnvironment {
    fn from(pairs: [(K, V); N]) -> Self {
        MapEnvironment(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnvironment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        MapEnvironment(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Environment for MapEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// The current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant, for tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The longest wait a deadline is set for. A timeout longer than this, such as `Duration::MAX`
/// meant as "no timeout" or a count of seconds typed on a command line, waits this long: a
/// century.
pub const LONGEST_WAIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// A point in time a deadline can be set from: [`Instant`] or [`SystemTime`].
pub trait Moment: Copy + sealed::Sealed {
    #[doc(hidden)]
    fn checked_after(self, wait: Duration) -> Option<Self>;
}

impl Moment for Instant {
    fn checked_after(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

impl Moment for SystemTime {
    fn checked_after(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::time::Instant {}
    impl Sealed for std::time::SystemTime {}
}

/// The last second a `SystemTime` can hold on this platform, found by halving: the clock a
/// caller's `Clock` may read that breaks any `now + duration`.
#[cfg(test)]
pub(crate) fn end_of_time() -> SystemTime {
    let mut end = SystemTime::UNIX_EPOCH;
    let mut step = Duration::from_secs(u64::MAX / 2);
    while !step.is_zero() {
        if let Some(later) = end.checked_add(step) {
            end = later;
        } else {
            step /= 2;
        }
    }
    end
}

/// The deadline of a timeout of `wait` from `from`. `from + wait` panics when the sum does not
/// fit the clock, and a configured timeout can be anything; here a wait longer than
/// [`LONGEST_WAIT`] is cut to it, and a clock too close to its end to add even that gives
/// `from`, a deadline already passed, rather than a panic.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mongodb_auth::environment::{LONGEST_WAIT, deadline};
///
/// let now = Instant::now();
/// assert_eq!(deadline(now, Duration::from_secs(30)), now + Duration::from_secs(30));
/// assert_eq!(deadline(now, Duration::MAX), now + LONGEST_WAIT);
/// ```
pub fn deadline<T: Moment>(from: T, wait: Duration) -> T {
    from.checked_after(wait.min(LONGEST_WAIT)).unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_environment_shows_its_names_not_its_values() {
        let env = MapEnvironment::from([
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
        ]);
        assert_eq!(
            format!("{env:?}"),
            r#"MapEnvironment(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])"#
        );
    }

    #[test]
    fn a_timeout_too_long_for_the_clock_is_a_century_not_a_panic() {
        let year = Duration::from_secs(365 * 24 * 60 * 60);
        let now = Instant::now();
        for forever in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            assert_eq!(deadline(now, forever), now + LONGEST_WAIT);
        }
        assert_eq!(deadline(now, year), now + year);
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(deadline(epoch, Duration::MAX), epoch + LONGEST_WAIT);
        assert_eq!(deadline(epoch, year), epoch + year);
    }

    #[test]
    fn a_clock_at_its_end_gives_a_deadline_already_passed() {
        let end = end_of_time();
        assert_eq!(deadline(end, Duration::from_secs(1)), end);
        assert_eq!(deadline(end, Duration::MAX), end);
    }
}
