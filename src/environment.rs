//! The process environment and the clock, as the machines take them: through traits of this
//! crate, so a test (or a driver with its own notion of either) can replace them.
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
use std::time::SystemTime;

/// Environment variables, read when a machine needs them (MONGODB-AWS reads its credentials
/// fresh at each login).
pub trait Environment: Send + Sync {
    /// The variable's value; `None` when unset or not UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests.
#[derive(Clone, Debug, Default)]
pub struct MapEnvironment(HashMap<String, String>);

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
