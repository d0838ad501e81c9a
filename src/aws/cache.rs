//! The credential cache (see [`CredentialCache`]).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::Credentials;
use super::chain::Source;

/// How long before expiry cached credentials stop being used.
pub const REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The MONGODB-AWS credential cache of rules K10, K15 and K16: credentials that expire, kept while
/// more than five minutes from expiry, shared by every connection of a client, cleared when a
/// login with them fails. Environment and explicit credentials are never cached. No lock is held
/// while credentials are fetched: the cache is read before and written after.
///
/// Wrap it in an `Arc` to share it.
#[derive(Debug, Default)]
pub struct CredentialCache {
    entry: Mutex<Option<(Credentials, Source)>>,
}

impl CredentialCache {
    /// An empty cache.
    pub fn new() -> Self {
        CredentialCache::default()
    }

    /// The process-wide cache that [`AuthOptions::default`](crate::AuthOptions) uses.
    pub fn global() -> std::sync::Arc<CredentialCache> {
        static GLOBAL: std::sync::OnceLock<std::sync::Arc<CredentialCache>> =
            std::sync::OnceLock::new();
        GLOBAL.get_or_init(Default::default).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Credentials, Source)>> {
        // Every update replaces the whole entry: a poisoned lock still holds a consistent one.
        self.entry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached credentials and their source, if they are still more than five minutes from
    /// expiry at `now`.
    pub fn get(&self, now: SystemTime) -> Option<(Credentials, Source)> {
        let entry = self.lock();
        let (credentials, source) = entry.as_ref()?;
        let expiration = credentials.expiration()?;
        let usable = expiration
            .duration_since(now)
            .is_ok_and(|left| left > REFRESH_WINDOW);
        usable.then(|| (credentials.clone(), *source))
    }

    /// Keeps `credentials` from `source`, if they are of a kind that is cached: they expire, and
    /// they come from neither the environment nor the caller.
    pub fn offer(&self, credentials: &Credentials, source: Source) {
        let cacheable = credentials.expiration().is_some()
            && !matches!(
                source,
                Source::Environment | Source::Explicit | Source::Custom
            );
        if cacheable {
            *self.lock() = Some((credentials.clone(), source));
        }
    }

    /// Forgets the credentials (a login with them failed, rule K16).
    pub fn clear(&self) {
        *self.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring(at: SystemTime) -> Credentials {
        Credentials::new("AKID", "s", None).with_expiration(at)
    }

    #[test]
    fn the_rules_of_the_cache() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cache = CredentialCache::new();
        // Credentials that do not expire, or from the environment, are not kept.
        cache.offer(&Credentials::new("A", "s", None), Source::Process);
        cache.offer(
            &expiring(now + Duration::from_secs(3600)),
            Source::Environment,
        );
        assert!(cache.get(now).is_none());
        // Expiring ones from a fetched source are, while more than five minutes are left.
        cache.offer(&expiring(now + Duration::from_secs(3600)), Source::Process);
        assert_eq!(cache.get(now).map(|(_, s)| s), Some(Source::Process));
        assert!(cache.get(now + Duration::from_secs(3600 - 301)).is_some());
        assert!(
            cache.get(now + Duration::from_secs(3600 - 300)).is_none(),
            "inside the window"
        );
        // A failed login clears it.
        cache.clear();
        assert!(cache.get(now).is_none());
    }
}
