//! Randomness, as the crate takes it: through [`SecureRandom`], a trait of its own, so a driver
//! on any version of `rand` (or on none) can supply its generator, and a test can supply a
//! deterministic one.
//!
//! ```
//! use mongodb_auth::random::{self, SecureRandom, SystemRandom};
//!
//! // The default: the operating system's CSPRNG, through a thread-local generator.
//! let mut nonce = [0u8; 24];
//! SystemRandom.fill(&mut nonce);
//!
//! // Any `FnMut(&mut [u8])` is a source: here a counter, for a reproducible test (never in
//! // production: nonces and salts must be unpredictable).
//! let mut counter = 0u8;
//! let mut fixed = random::from_fn(move |bytes: &mut [u8]| {
//!     for byte in bytes {
//!         counter = counter.wrapping_add(1);
//!         *byte = counter;
//!     }
//! });
//! fixed.fill(&mut nonce[..3]);
//! assert_eq!(nonce[..3], [1, 2, 3]);
//! ```

use rand::RngCore as _;

/// A source of cryptographically secure random bytes: SCRAM nonces (rule G6), salts, cache keys
/// and the `mongodb+srv` host shuffle all come from one.
///
/// Implemented by [`SystemRandom`], by any `FnMut(&mut [u8])` wrapped with [`from_fn`], and by
/// boxes and mutable references of sources.
pub trait SecureRandom {
    /// Fills `bytes` with random bytes.
    fn fill(&mut self, bytes: &mut [u8]);
}

impl<R: SecureRandom + ?Sized> SecureRandom for Box<R> {
    fn fill(&mut self, bytes: &mut [u8]) {
        (**self).fill(bytes)
    }
}

impl<R: SecureRandom + ?Sized> SecureRandom for &mut R {
    fn fill(&mut self, bytes: &mut [u8]) {
        (**self).fill(bytes)
    }
}

/// A source made of a closure (see [`from_fn`]).
#[derive(Clone, Copy)]
pub struct FromFn<F>(F);

impl<F: FnMut(&mut [u8])> SecureRandom for FromFn<F> {
    fn fill(&mut self, bytes: &mut [u8]) {
        (self.0)(bytes)
    }
}

impl<F> std::fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromFn")
    }
}

/// A source that calls `fill` for its bytes: the way to plug in another crate's generator, e.g.
/// `random::from_fn(move |bytes| rng.fill_bytes(bytes))` for any version of `rand`.
pub fn from_fn<F: FnMut(&mut [u8])>(fill: F) -> FromFn<F> {
    FromFn(fill)
}

/// The default source: a thread-local CSPRNG seeded and reseeded from the operating system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemRandom;

impl SecureRandom for SystemRandom {
    fn fill(&mut self, bytes: &mut [u8]) {
        rand::rng().fill_bytes(bytes);
    }
}

/// A boxed source that can be shared with another thread.
pub type BoxedRandom = Box<dyn SecureRandom + Send + Sync>;

/// A uniform number in `0..bound` (`0` when `bound` is 0), without modulo bias.
pub(crate) fn below(random: &mut (impl SecureRandom + ?Sized), bound: u32) -> u32 {
    if bound <= 1 {
        return 0;
    }
    // Reject the top partial range so every residue is equally likely. A sound source leaves it
    // with odds of at least one half per draw; a broken one (always 0xFF...) must not hang us.
    let zone = u32::MAX - (u32::MAX % bound);
    let mut value = 0;
    for _ in 0..64 {
        let mut bytes = [0u8; 4];
        random.fill(&mut bytes);
        value = u32::from_le_bytes(bytes);
        if value < zone {
            break;
        }
    }
    value % bound
}

/// Fisher-Yates shuffle.
pub(crate) fn shuffle<T>(items: &mut [T], random: &mut (impl SecureRandom + ?Sized)) {
    for i in (1..items.len()).rev() {
        let bound = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let j = below(random, bound) as usize;
        items.swap(i, j.min(i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut seen = [false; 5];
        for _ in 0..500 {
            let value = below(&mut SystemRandom, 5) as usize;
            seen[value] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(below(&mut SystemRandom, 0), 0);
        assert_eq!(below(&mut SystemRandom, 1), 0);
        // A source stuck on the rejected range still returns.
        assert!(below(&mut from_fn(|b: &mut [u8]| b.fill(0xFF)), 3) < 3);
    }

    #[test]
    fn shuffle_is_a_permutation_driven_by_the_source() {
        let mut items: Vec<u32> = (0..20).collect();
        let mut zeros = from_fn(|bytes: &mut [u8]| bytes.fill(0));
        shuffle(&mut items, &mut zeros);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        // With a source of zeros every swap is with index 0: a rotation, not the identity.
        assert_ne!(items, (0..20).collect::<Vec<_>>());
    }
}
