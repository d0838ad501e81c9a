//! The SCRAM key cache the auth spec requires (rule G12): PBKDF2 runs once per password, salt,
//! iteration count and variant, not once per connection.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use zeroize::Zeroizing;

use super::ScramVariant;
use super::keys::{KeyDerivation, ScramKeys, hmac_of_parts};
use crate::random::{SecureRandom, SystemRandom};

/// How many entries [`ScramKeyCache::default`] keeps: one per distinct credential and server
/// salt, so a client talking to a few clusters with a few users stays far below it.
pub const DEFAULT_CACHE_CAPACITY: usize = 64;

type CacheKey = [u8; 32];

/// A bounded cache of SCRAM ClientKey/ServerKey pairs, shared across connections (`Send + Sync`;
/// wrap it in an [`Arc`]).
///
/// Entries are found by an HMAC-SHA-256 of (variant, iterations, salt, password input) under a
/// random key drawn when the cache is created: the cache never holds a password, and its keys are
/// useless for guessing one without that random key. Evicted and dropped keys are zeroized. When
/// full, the least recently used entry goes.
pub struct ScramKeyCache {
    key: Zeroizing<[u8; 32]>,
    capacity: usize,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Entries {
    /// Boxed, so the keys stay where they were put and are wiped there: a table that grows, or
    /// a removal, would otherwise leave copies of them in memory it gives back unwiped.
    map: HashMap<CacheKey, Box<ScramKeys>>,
    /// Least recently used first.
    order: VecDeque<CacheKey>,
}

/// Counters of a [`ScramKeyCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache (no PBKDF2).
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

impl ScramKeyCache {
    /// An empty cache holding at most `capacity` entries (at least one), its lookup key drawn
    /// from `random`.
    ///
    /// ```
    /// use mongodb_auth::ScramKeyCache;
    /// use mongodb_auth::random::SystemRandom;
    ///
    /// let cache = ScramKeyCache::new(16, &mut SystemRandom);
    /// assert_eq!(cache.stats().entries, 0);
    /// ```
    pub fn new(capacity: usize, random: &mut (impl SecureRandom + ?Sized)) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        random.fill(key.as_mut());
        ScramKeyCache {
            key,
            capacity: capacity.max(1),
            entries: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The process-wide cache that [`AuthOptions::default`](crate::AuthOptions) uses.
    pub fn global() -> Arc<ScramKeyCache> {
        static GLOBAL: OnceLock<Arc<ScramKeyCache>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Arc::new(ScramKeyCache::default()))
            .clone()
    }

    /// The keys for this derivation, if cached.
    pub fn get(&self, derivation: &KeyDerivation) -> Option<ScramKeys> {
        let id = self.id(derivation);
        let mut entries = self.lock();
        let found = entries
            .map
            .get(&id)
            .map(|keys| ScramKeys::clone(keys).for_job(derivation));
        if found.is_some() {
            entries.touch(id);
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Stores the keys of a derivation, evicting the least recently used entry when full.
    pub fn insert(&self, derivation: &KeyDerivation, keys: ScramKeys) {
        let id = self.id(derivation);
        let mut entries = self.lock();
        if entries.map.insert(id, Box::new(keys)).is_some() {
            entries.touch(id);
            return;
        }
        entries.order.push_back(id);
        while entries.map.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            // Dropping the ScramKeys zeroizes them.
            entries.map.remove(&oldest);
        }
    }

    /// The keys for this derivation: from the cache, or by running it and caching the result.
    pub fn get_or_derive(&self, derivation: &KeyDerivation) -> ScramKeys {
        if let Some(keys) = self.get(derivation) {
            return keys;
        }
        let keys = derivation.run();
        self.insert(derivation, keys.clone());
        keys
    }

    /// Forgets the keys of this derivation (zeroizing them): the server refused them.
    pub fn remove(&self, derivation: &KeyDerivation) {
        let id = self.id(derivation);
        let mut entries = self.lock();
        if entries.map.remove(&id).is_some() {
            entries.order.retain(|k| *k != id);
        }
    }

    /// Forgets every entry (zeroizing them).
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.map.clear();
        entries.order.clear();
    }

    /// Hits, misses and size.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().map.len(),
        }
    }

    fn id(&self, d: &KeyDerivation) -> CacheKey {
        let variant = [match d.variant {
            ScramVariant::Sha1 => 1,
            ScramVariant::Sha256 => 2,
        }];
        let parts: [&[u8]; 5] = [
            &variant,
            &d.iterations.to_be_bytes(),
            // Length-prefixed, so salt and password cannot trade bytes and collide.
            &(d.salt.len() as u64).to_be_bytes(),
            &d.salt,
            d.password_input.expose().as_bytes(),
        ];
        let mac = hmac_of_parts(ScramVariant::Sha256, self.key.as_ref(), &parts);
        // HMAC-SHA-256 is 32 bytes: the id is all of it.
        let mut id = [0u8; 32];
        for (byte, mac) in id.iter_mut().zip(mac.iter()) {
            *byte = *mac;
        }
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map inconsistent (every mutation is a
        // single map/deque call), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    fn touch(&mut self, id: CacheKey) {
        if let Some(position) = self.order.iter().position(|k| *k == id) {
            self.order.remove(position);
        }
        self.order.push_back(id);
    }
}

impl Default for ScramKeyCache {
    fn default() -> Self {
        ScramKeyCache::new(DEFAULT_CACHE_CAPACITY, &mut SystemRandom)
    }
}

impl std::fmt::Debug for ScramKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeyCache")
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn derivation(password: &str, salt: &[u8]) -> KeyDerivation {
        KeyDerivation {
            job: super::super::keys::next_job(),
            variant: ScramVariant::Sha256,
            password_input: Secret::new(password),
            salt: salt.to_vec(),
            iterations: 4096,
        }
    }

    #[test]
    fn hit_returns_the_same_keys_without_deriving() {
        let cache = ScramKeyCache::new(4, &mut SystemRandom);
        let d = derivation("pencil", b"salt");
        let first = cache.get_or_derive(&d);
        let second = cache.get_or_derive(&d);
        assert_eq!(*first.client_key, *second.client_key);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                entries: 1
            }
        );
    }

    #[test]
    fn every_input_is_part_of_the_key() {
        let cache = ScramKeyCache::new(8, &mut SystemRandom);
        let base = derivation("pencil", b"salt");
        let ids = [
            cache.id(&base),
            cache.id(&derivation("pencil2", b"salt")),
            cache.id(&derivation("pencil", b"salt2")),
            cache.id(&KeyDerivation {
                iterations: 4097,
                ..base.clone()
            }),
            cache.id(&KeyDerivation {
                variant: ScramVariant::Sha1,
                ..base.clone()
            }),
            // Moving a byte from the salt to the password must not collide.
            cache.id(&derivation("tpencil", b"sal")),
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Another cache's random key gives other ids.
        assert_ne!(
            ScramKeyCache::new(1, &mut SystemRandom).id(&base),
            cache.id(&base)
        );
    }

    #[test]
    fn bounded_least_recently_used() {
        let cache = ScramKeyCache::new(2, &mut SystemRandom);
        let (a, b, c) = (
            derivation("a", b"s"),
            derivation("b", b"s"),
            derivation("c", b"s"),
        );
        let keys = a.run();
        cache.insert(&a, keys.clone());
        cache.insert(&b, keys.clone());
        assert!(cache.get(&a).is_some()); // a is now the most recent
        cache.insert(&c, keys);
        assert_eq!(cache.stats().entries, 2);
        assert!(cache.get(&b).is_none(), "b was least recently used");
        assert!(cache.get(&a).is_some() && cache.get(&c).is_some());
    }

    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ScramKeyCache>();
        assert_send_sync::<KeyDerivation>();
        assert_send_sync::<ScramKeys>();
    }
}
