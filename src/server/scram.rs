//! The server side of SCRAM (RFC 5802), as a typestate machine over [`StoredCredential`]s.

use std::borrow::Cow;
use std::ops::Range;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::{DecodeSliceError, Engine as _};
use zeroize::Zeroizing;

use super::conversation::{ServerContext, ServerConversation, Verdict};
use super::users::{StoredCredential, salt_len, write_salt_and_iterations};
use crate::random::SecureRandom;
use crate::scram::{NONCE_LEN, ScramVariant, SecretBytes, append_nonce, hash, hmac, hmac_of_parts};
use crate::secret::constant_time_eq;

/// Why the server refuses a SCRAM conversation. Every refusal reaches the client as the same
/// `AuthenticationFailed`; the detail is for the server's own log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client message is not SCRAM.
    Malformed(&'static str),
    /// The client asked for channel binding, which the server does not offer.
    ChannelBinding,
    /// The nonce in client-final is not the combined nonce.
    NonceMismatch,
    /// The proof is wrong: wrong password, unknown user, or a mechanism the user lacks.
    InvalidProof,
}

/// A parsed client-first-message, borrowing from it.
#[derive(Debug)]
pub struct ClientFirstMessage<'a> {
    username: Cow<'a, str>,
    client_nonce: &'a str,
    bare: &'a str,
}

/// Reads `n,,n=<user>,r=<nonce>`: no channel binding, no authzid, RFC 5802 name escaping.
pub fn receive_client_first(message: &[u8]) -> Result<ClientFirstMessage<'_>, Refusal> {
    let text = std::str::from_utf8(message).map_err(|_| Refusal::Malformed("not UTF-8"))?;
    let (gs2_flag, rest) = text
        .split_once(',')
        .ok_or(Refusal::Malformed("no GS2 header"))?;
    match gs2_flag {
        "n" => {}
        "y" | "p" => return Err(Refusal::ChannelBinding),
        _ => {
            if gs2_flag.starts_with("p=") {
                return Err(Refusal::ChannelBinding);
            }
            return Err(Refusal::Malformed("bad GS2 flag"));
        }
    }
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(Refusal::Malformed("no GS2 header"))?;
    if !authzid.is_empty() {
        return Err(Refusal::Malformed("an authzid is not supported"));
    }
    if bare.starts_with("m=") {
        return Err(Refusal::Malformed("mandatory extensions are not supported"));
    }
    // RFC 5802: `n=` then `r=`, then extensions, each once, in that order.
    let mut attributes = bare.split(',');
    let username = attributes
        .next()
        .and_then(|a| a.strip_prefix("n="))
        .ok_or(Refusal::Malformed("no username"))?;
    let username = unescape_username(username)?;
    let client_nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or(Refusal::Malformed("no nonce"))?;
    for extension in attributes {
        let name = extension.as_bytes();
        if name.len() < 2 || name.get(1) != Some(&b'=') || matches!(name.first(), Some(b'n' | b'r'))
        {
            return Err(Refusal::Malformed("a malformed or repeated attribute"));
        }
    }
    if !crate::scram::is_printable(client_nonce) {
        return Err(Refusal::Malformed("the nonce is not printable ASCII"));
    }
    Ok(ClientFirstMessage {
        username,
        client_nonce,
        bare,
    })
}

/// RFC 5802 `saslname`: `=3D` is `=`, `=2C` is `,`, and any other `=` is an error.
fn unescape_username(name: &str) -> Result<Cow<'_, str>, Refusal> {
    if name.is_empty() {
        return Err(Refusal::Malformed("empty username"));
    }
    if !name.contains('=') {
        return Ok(Cow::Borrowed(name));
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let escape = rest
            .get(at..at + 3)
            .ok_or(Refusal::Malformed("bad escape in the username"))?;
        out.push(match escape {
            "=3D" => '=',
            "=2C" => ',',
            _ => return Err(Refusal::Malformed("bad escape in the username")),
        });
        rest = rest.get(at + 3..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

impl ClientFirstMessage<'_> {
    /// The user the client claims to be (unescaped, not normalised).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Answers with server-first. With `credential` `None` (unknown user, or a user without this
    /// mechanism) the conversation goes on with a salt and keys derived from `decoy_key` (one
    /// per database), the variant and the name, and `decoy_iterations` (the count the real
    /// users' verifiers of the variant have): stable per name, of the same length and iteration
    /// count as a real user's of this variant, independent between the variants as a real
    /// user's two salts are, the same work as a real check, and a refusal at the proof, as for
    /// a wrong password.
    pub fn respond<R: SecureRandom + ?Sized>(
        &self,
        variant: ScramVariant,
        credential: Option<&StoredCredential>,
        (decoy_key, decoy_iterations): (&[u8], u32),
        random: &mut R,
    ) -> (Vec<u8>, AwaitingClientFinal) {
        let (salt_and_iterations, stored_key, server_key, decoy) = match credential
            .filter(|c| c.variant() == variant)
        {
            Some(c) => (
                Cow::Borrowed(c.salt_and_iterations()),
                c.stored_key().clone(),
                c.server_key().clone(),
                false,
            ),
            None => {
                // Keys no password derives, so the proof check does the same work and fails.
                let decoy = |label: &str| {
                    // Each part length-prefixed, so no two (variant, label, name) triples
                    // share an input, and one variant's salt tells nothing of the other's.
                    let [mechanism, name] = [variant.mechanism().as_str(), self.username()];
                    let lengths = [mechanism, label, name].map(|part| part.len() as u64);
                    let [mechanism_len, label_len, name_len] = lengths.map(|len| len.to_be_bytes());
                    hmac_of_parts(
                        ScramVariant::Sha256,
                        decoy_key,
                        &[
                            &mechanism_len,
                            mechanism.as_bytes(),
                            &label_len,
                            label.as_bytes(),
                            &name_len,
                            name.as_bytes(),
                        ],
                    )
                };
                // SHA-256 output is 32 bytes, more than either salt length.
                let decoy_salt = decoy("salt");
                let key = |label: &str| {
                    let mut key = decoy(label);
                    key.truncate(variant.output_len());
                    key
                };
                let mut salt_and_iterations = String::new();
                write_salt_and_iterations(
                    &mut salt_and_iterations,
                    decoy_salt.get(..salt_len(variant)).unwrap_or_default(),
                    decoy_iterations,
                );
                (
                    Cow::Owned(salt_and_iterations),
                    key("stored key"),
                    key("server key"),
                    true,
                )
            }
        };
        // The auth message is `client-first-bare,server-first,client-final-without-proof`: it is
        // built here with room for the client's part (`c=biws,r=<nonce>`), so the proof check
        // appends to it, and server-first is the slice in the middle.
        let mut auth_message = String::with_capacity(
            self.bare.len() + 2 * (self.client_nonce.len() + NONCE_LEN) + AUTH_MESSAGE_FIXED_LEN,
        );
        auth_message.push_str(self.bare);
        auth_message.push(',');
        let server_first_at = auth_message.len();
        auth_message.push_str("r=");
        let nonce_at = auth_message.len();
        auth_message.push_str(self.client_nonce);
        append_nonce(random, &mut auth_message);
        let nonce = nonce_at..auth_message.len();
        auth_message.push_str(&salt_and_iterations);
        let server_first = auth_message
            .get(server_first_at..)
            .unwrap_or_default()
            .as_bytes()
            .to_vec();
        let state = AwaitingClientFinal {
            variant,
            auth_message,
            nonce,
            stored_key,
            server_key,
            decoy,
        };
        (server_first, state)
    }
}

/// What the auth message holds besides the two client messages' variable parts and the nonces:
/// the separators and names, the salt in base64 (at most 44 bytes) and the iteration count.
const AUTH_MESSAGE_FIXED_LEN: usize = 96;

/// Server-first was sent; waiting for the client's proof.
pub struct AwaitingClientFinal {
    variant: ScramVariant,
    /// `client-first-bare,server-first`, with room for `,client-final-without-proof`.
    auth_message: String,
    /// Where the combined nonce is in `auth_message`.
    nonce: Range<usize>,
    stored_key: SecretBytes,
    server_key: SecretBytes,
    /// An unknown user (or a mechanism the user lacks): the proof is refused whatever it is.
    decoy: bool,
}

impl std::fmt::Debug for AwaitingClientFinal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitingClientFinal")
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl AwaitingClientFinal {
    /// Checks `c=biws,r=<nonce>,p=<proof>` and returns server-final (`v=<signature>`).
    pub fn receive_client_final(mut self, message: &[u8]) -> Result<Vec<u8>, Refusal> {
        let text = std::str::from_utf8(message).map_err(|_| Refusal::Malformed("not UTF-8"))?;
        // The proof is the last attribute, and base64 has no comma.
        let (without_proof, proof) = text
            .rsplit_once(',')
            .and_then(|(without_proof, last)| Some((without_proof, last.strip_prefix("p=")?)))
            .ok_or(Refusal::Malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        match attributes.next() {
            Some("c=biws") => {}
            Some(c) if c.starts_with("c=") => return Err(Refusal::ChannelBinding),
            _ => return Err(Refusal::Malformed("no channel binding attribute")),
        }
        let nonce = self.auth_message.get(self.nonce.clone());
        if attributes.next().and_then(|r| r.strip_prefix("r=")) != nonce {
            return Err(Refusal::NonceMismatch);
        }
        // Room for the longest proof base64 can say in as many characters as a SHA-256 one.
        let mut decoded = Zeroizing::new([0u8; 48]);
        let proof = match BASE64.decode_slice(proof, decoded.as_mut_slice()) {
            Ok(len) => decoded.get(..len).unwrap_or_default(),
            Err(DecodeSliceError::OutputSliceTooSmall) => return Err(Refusal::InvalidProof),
            Err(DecodeSliceError::DecodeError(_)) => {
                return Err(Refusal::Malformed("the proof is not base64"));
            }
        };
        self.auth_message.push(',');
        self.auth_message.push_str(without_proof);
        let auth_message = self.auth_message.as_bytes();
        let mut client_key = hmac(self.variant, &self.stored_key, auth_message);
        if proof.len() != client_key.len() {
            return Err(Refusal::InvalidProof);
        }
        // ClientKey = ClientProof XOR ClientSignature.
        for (key, proof) in client_key.iter_mut().zip(proof) {
            *key ^= proof;
        }
        let matches = constant_time_eq(&hash(self.variant, &client_key), &self.stored_key);
        if self.decoy || !matches {
            return Err(Refusal::InvalidProof);
        }
        let signature = hmac(self.variant, &self.server_key, auth_message);
        let mut server_final = String::with_capacity(2 + 4 * signature.len().div_ceil(3));
        server_final.push_str("v=");
        BASE64.encode_string(&*signature, &mut server_final);
        Ok(server_final.into_bytes())
    }
}

/// One SCRAM conversation as the session drives it: client-first (inside `hello` too),
/// client-final, and the empty exchange of clients that did not ask to skip it (rule G10).
pub(crate) struct ScramConversation {
    variant: ScramVariant,
    state: ConversationState,
}

enum ConversationState {
    Idle,
    /// Server-first is out; `known`: the user has this mechanism (for the log only).
    AwaitingClientFinal {
        user: String,
        known: bool,
        state: AwaitingClientFinal,
    },
    /// Server-final went out with `done: false`; the client owes an empty message.
    AwaitingEmpty {
        user: String,
    },
}

impl ScramConversation {
    pub(crate) fn new(variant: ScramVariant) -> Self {
        ScramConversation {
            variant,
            state: ConversationState::Idle,
        }
    }
}

impl ServerConversation for ScramConversation {
    fn mechanism(&self) -> &'static str {
        self.variant.mechanism().as_str()
    }

    fn start(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        let Ok(first) = receive_client_first(payload) else {
            return Verdict::refused("", "malformed client-first message");
        };
        let user = first.username().to_owned();
        let credential = cx
            .config
            .users
            .get(cx.db, &user)
            .and_then(|u| u.credential(self.variant));
        if cx.speculative && credential.is_none() {
            // A speculative attempt that cannot go on is dropped: the client negotiates.
            return Verdict::refused(user, "unknown user or mechanism (speculative)");
        }
        let known = credential.is_some();
        let mut fill = crate::random::from_fn(|bytes: &mut [u8]| cx.config.fill_random(bytes));
        // Only an unknown user's conversation goes on with a decoy; a known one's never reads
        // the database's decoy key nor the decoy's iteration count, so neither is looked up.
        let decoy = (!known).then(|| {
            (
                cx.config.decoy_key_for(cx.db),
                cx.config.users.decoy_iterations(self.variant),
            )
        });
        let decoy = decoy
            .as_ref()
            .map_or((&[][..], 0), |(key, iterations)| (&key[..], *iterations));
        let (server_first, state) = first.respond(self.variant, credential, decoy, &mut fill);
        self.state = ConversationState::AwaitingClientFinal { user, known, state };
        Verdict::Continue(server_first)
    }

    fn next(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        match std::mem::replace(&mut self.state, ConversationState::Idle) {
            ConversationState::AwaitingClientFinal { user, known, state } => {
                match state.receive_client_final(payload) {
                    Ok(mut server_final) => {
                        if cx.config.sends_wrong_server_signature() {
                            server_final = wrong_signature(&server_final);
                        }
                        if cx.skip_empty_exchange {
                            Verdict::Authenticated {
                                user,
                                payload: server_final,
                                expires: None,
                            }
                        } else {
                            self.state = ConversationState::AwaitingEmpty { user };
                            Verdict::Continue(server_final)
                        }
                    }
                    // Whatever the reason, the client only learns that authentication failed.
                    Err(refusal) => Verdict::refused(
                        user,
                        match refusal {
                            Refusal::InvalidProof if !known => "unknown user or mechanism",
                            Refusal::InvalidProof => "wrong password",
                            Refusal::ChannelBinding => "channel binding requested",
                            Refusal::NonceMismatch => "nonce mismatch",
                            Refusal::Malformed(_) => "malformed client-final message",
                        },
                    ),
                }
            }
            ConversationState::AwaitingEmpty { user } if payload.is_empty() => {
                Verdict::Authenticated {
                    user,
                    payload: Vec::new(),
                    expires: None,
                }
            }
            ConversationState::AwaitingEmpty { user } => {
                Verdict::refused(user, "non-empty final exchange")
            }
            ConversationState::Idle => Verdict::refused("", "no SCRAM conversation"),
        }
    }
}

/// `v=<signature>` with one bit of the signature flipped (a test's misbehaving server).
fn wrong_signature(server_final: &[u8]) -> Vec<u8> {
    let signature = server_final.strip_prefix(b"v=").unwrap_or_default();
    let mut bytes = BASE64.decode(signature).unwrap_or_default();
    if let Some(first) = bytes.first_mut() {
        *first ^= 1;
    }
    format!("v={}", BASE64.encode(bytes)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SystemRandom;
    use crate::scram::{ScramClient, ScramKeyCache};
    use crate::secret::Secret;
    use crate::server::users::default_iterations;

    fn conversation(
        variant: ScramVariant,
        stored_for: &str,
        client_user: &str,
        password: &str,
    ) -> Result<(), Refusal> {
        let mut rng = SystemRandom;
        let credential = StoredCredential::new(
            stored_for,
            "admin",
            &Secret::new("pencil"),
            variant,
            4096,
            &mut rng,
        )
        .unwrap();
        let client = ScramClient::new(variant, client_user, &Secret::new(password)).unwrap();
        let (client_first, state) = client.start(&mut rng);
        let first = receive_client_first(&client_first)?;
        let known = (first.username() == stored_for).then_some(&credential);
        let (server_first, server) = first.respond(
            variant,
            known,
            (b"decoy", default_iterations(variant)),
            &mut rng,
        );
        let (client_final, state) = state
            .handle_server_first(&server_first, &ScramKeyCache::new(1, &mut rng))
            .unwrap();
        let server_final = server.receive_client_final(&client_final)?;
        state
            .handle_server_final(&server_final)
            .expect("the client accepts the server's signature");
        Ok(())
    }

    #[test]
    fn client_and_server_agree() {
        for variant in [ScramVariant::Sha1, ScramVariant::Sha256] {
            assert_eq!(conversation(variant, "user", "user", "pencil"), Ok(()));
            assert_eq!(conversation(variant, "a=b,c", "a=b,c", "pencil"), Ok(()));
            assert_eq!(
                conversation(variant, "user", "user", "wrong"),
                Err(Refusal::InvalidProof)
            );
            assert_eq!(
                conversation(variant, "user", "nobody", "pencil"),
                Err(Refusal::InvalidProof)
            );
        }
    }

    #[test]
    fn decoy_salts_are_stable_per_user_and_independent_per_variant() {
        let mut rng = SystemRandom;
        let salt_of = |user: &str, variant, rng: &mut SystemRandom| {
            let message = format!("n,,n={user},r=abc");
            let first = receive_client_first(message.as_bytes()).unwrap();
            let (server_first, _) =
                first.respond(variant, None, (b"key", default_iterations(variant)), rng);
            let text = String::from_utf8(server_first).unwrap();
            let salt = text.split(',').nth(1).unwrap().strip_prefix("s=").unwrap();
            BASE64.decode(salt).unwrap()
        };
        let sha256 = ScramVariant::Sha256;
        assert_eq!(
            salt_of("ghost", sha256, &mut rng),
            salt_of("ghost", sha256, &mut rng)
        );
        assert_ne!(
            salt_of("ghost", sha256, &mut rng),
            salt_of("other", sha256, &mut rng)
        );
        // A real user's two salts are drawn apart; an unknown user's must not be cut from one.
        let sha1_salt = salt_of("ghost", ScramVariant::Sha1, &mut rng);
        let sha256_salt = salt_of("ghost", sha256, &mut rng);
        assert!(
            !sha256_salt.starts_with(&sha1_salt[..4]),
            "{sha1_salt:?} {sha256_salt:?}"
        );
    }

    #[test]
    fn client_first_rules() {
        for (message, refusal) in [
            (&b"y,,n=u,r=a"[..], Refusal::ChannelBinding),
            (b"p=tls-unique,,n=u,r=a", Refusal::ChannelBinding),
            (
                b"n,a=admin,n=u,r=a",
                Refusal::Malformed("an authzid is not supported"),
            ),
            (b"n,,r=a", Refusal::Malformed("no username")),
            (b"n,,n=u", Refusal::Malformed("no nonce")),
            (b"n,,r=a,n=u", Refusal::Malformed("no username")),
            (
                b"n,,n=u,r=a,r=b",
                Refusal::Malformed("a malformed or repeated attribute"),
            ),
            (
                b"n,,n=a=3X,r=a",
                Refusal::Malformed("bad escape in the username"),
            ),
            (
                b"n,,n=a=,r=a",
                Refusal::Malformed("bad escape in the username"),
            ),
            (b"nonsense", Refusal::Malformed("no GS2 header")),
        ] {
            assert_eq!(
                receive_client_first(message).unwrap_err(),
                refusal,
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
        assert_eq!(
            receive_client_first(b"n,,n=a=3Db=2Cc,r=x")
                .unwrap()
                .username(),
            "a=b,c"
        );
    }

    #[test]
    fn client_final_refusals() {
        let mut rng = SystemRandom;
        let credential = StoredCredential::new(
            "user",
            "admin",
            &Secret::new("pencil"),
            ScramVariant::Sha256,
            4096,
            &mut rng,
        )
        .unwrap();
        let proof = BASE64.encode([0u8; 32]);
        // Each client-final from the combined nonce and a proof.
        type ClientFinal = fn(&str, &str) -> String;
        let cases: [(ClientFinal, Refusal); 6] = [
            (
                |nonce, _| format!("c=biws,r={nonce}"),
                Refusal::Malformed("no proof"),
            ),
            // The proof is the last attribute.
            (
                |nonce, proof| format!("c=biws,r={nonce},p={proof},e=1"),
                Refusal::Malformed("no proof"),
            ),
            (
                |nonce, _| format!("c=biws,r={nonce},p=!!!!"),
                Refusal::Malformed("the proof is not base64"),
            ),
            (
                |_, proof| format!("c=biws,r=abc,p={proof}"),
                Refusal::NonceMismatch,
            ),
            (
                |nonce, proof| format!("c=eSws,r={nonce},p={proof}"),
                Refusal::ChannelBinding,
            ),
            (
                |nonce, proof| format!("c=biws,r={nonce},p={proof}"),
                Refusal::InvalidProof,
            ),
        ];
        for (message, refusal) in cases {
            let first = receive_client_first(b"n,,n=user,r=abc").unwrap();
            let (server_first, server) = first.respond(
                ScramVariant::Sha256,
                Some(&credential),
                (b"", 4096),
                &mut rng,
            );
            let server_first = String::from_utf8(server_first).unwrap();
            let nonce = server_first
                .split(',')
                .next()
                .and_then(|r| r.strip_prefix("r="))
                .unwrap();
            let message = message(nonce, &proof);
            assert_eq!(
                server.receive_client_final(message.as_bytes()),
                Err(refusal),
                "{message}"
            );
        }
    }

    #[test]
    fn plain_verification() {
        let mut rng = SystemRandom;
        let user = super::super::users::User::new(
            "admin",
            "\u{2168}",
            &Secret::new("IV"),
            &[ScramVariant::Sha256],
            &mut rng,
        )
        .unwrap();
        assert!(user.verify_password(&Secret::new("IV")));
        assert!(user.verify_password(&Secret::new("I\u{00AD}V")));
        assert!(!user.verify_password(&Secret::new("IX")));
    }
}
