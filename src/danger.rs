//! Knobs for tests, fenced off from the normal API (as rustls does with `danger`): each one
//! weakens a guarantee the crate otherwise keeps. Nothing outside a test should call them.
//!
//! ```
//! use mongodb_auth::{AuthOptions, danger};
//!
//! // Replays the auth spec's example conversation, whose client nonce is fixed.
//! let options = danger::with_forced_nonces(AuthOptions::default(), || {
//!     "rOprNGfwEbeRWgbNEkqO".to_owned()
//! });
//! # let _ = options;
//! ```

use crate::handshake::AuthOptions;

/// A source of SCRAM client nonces chosen by the caller.
pub(crate) type NonceGenerator = Box<dyn FnMut() -> String + Send + Sync>;

/// Takes SCRAM client nonces from `generator` instead of drawing them at random, e.g. to replay
/// the auth spec's examples. A predictable nonce lets a recorded conversation be replayed, which
/// is why this is for tests only. A nonce must be printable ASCII without `,`; anything else
/// fails the conversation.
pub fn with_forced_nonces(
    mut options: AuthOptions,
    generator: impl FnMut() -> String + Send + Sync + 'static,
) -> AuthOptions {
    options.forced_nonces = Some(Box::new(generator));
    options
}

/// Sends the MONGODB-OIDC `azure` and `gcp` environments' metadata requests to `base` (say
/// `http://127.0.0.1:8080`) instead of `http://169.254.169.254` or `http://metadata`, with the
/// same paths and headers: a test plays the metadata endpoint. Pointed elsewhere, it would hand a
/// workload's identity to whoever listens there.
#[cfg(feature = "oidc")]
pub fn with_oidc_metadata_endpoint(
    mut options: AuthOptions,
    base: impl Into<String>,
) -> AuthOptions {
    options.oidc_metadata_endpoint = Some(base.into());
    options
}
