//! Test support: a SCRAM server written from the RFC 5802 formulas with the hmac/sha crates
//! directly (independent of the crate's own SCRAM code), and BSON helpers for scripted replies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::{Bson, Document, RawDocument, doc, spec::BinarySubtype};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    pub fn mechanism(self) -> &'static str {
        match self {
            Hash::Sha1 => "SCRAM-SHA-1",
            Hash::Sha256 => "SCRAM-SHA-256",
        }
    }
}

fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Hash::Sha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

fn h(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

fn hi(hash: Hash, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    match hash {
        Hash::Sha1 => pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(password, salt, iterations).to_vec(),
        Hash::Sha256 => {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
        }
    }
}

/// The password as MongoDB feeds it to `Hi()`: the MD5 digest for SHA-1, SASLprep for SHA-256.
/// `None` when SASLprep refuses the password.
pub fn normalize(hash: Hash, username: &str, password: &str) -> Option<String> {
    match hash {
        Hash::Sha1 => {
            let digest = Md5::digest(format!("{username}:mongo:{password}").as_bytes());
            Some(digest.iter().map(|b| format!("{b:02x}")).collect())
        }
        Hash::Sha256 => stringprep::saslprep(password).ok().map(|p| p.into_owned()),
    }
}

/// A SCRAM server for one user: it keeps StoredKey and ServerKey only.
pub struct Rfc5802Server {
    pub hash: Hash,
    pub salt: Vec<u8>,
    pub iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    server_nonce: String,
    auth_message_prefix: Option<String>,
    nonce: String,
}

impl Rfc5802Server {
    pub fn new(hash: Hash, username: &str, password: &str, salt: &[u8], iterations: u32) -> Self {
        let normalized = normalize(hash, username, password).expect("a password SASLprep accepts");
        let salted = hi(hash, normalized.as_bytes(), salt, iterations);
        let client_key = hmac(hash, &salted, b"Client Key");
        Rfc5802Server {
            hash,
            salt: salt.to_vec(),
            iterations,
            stored_key: h(hash, &client_key),
            server_key: hmac(hash, &salted, b"Server Key"),
            server_nonce: "3rfcNHYJY1ZVvWVs7j".into(),
            auth_message_prefix: None,
            nonce: String::new(),
        }
    }

    /// Answers `n,,n=user,r=nonce`.
    pub fn server_first(&mut self, client_first: &[u8]) -> String {
        let client_first = std::str::from_utf8(client_first).unwrap();
        let bare = client_first.strip_prefix("n,,").expect("gs2 header n,,");
        let client_nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .expect("r=");
        self.nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={},s={},i={}",
            self.nonce,
            BASE64.encode(&self.salt),
            self.iterations
        );
        self.auth_message_prefix = Some(format!("{bare},{server_first}"));
        server_first
    }

    /// Checks `c=biws,r=nonce,p=proof`; returns `v=signature`, or why the proof is refused.
    pub fn server_final(&self, client_final: &[u8]) -> Result<String, String> {
        let client_final = std::str::from_utf8(client_final).map_err(|e| e.to_string())?;
        let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or("no proof")?;
        if without_proof != format!("c=biws,r={}", self.nonce) {
            return Err(format!("wrong channel binding or nonce: {without_proof}"));
        }
        let auth_message = format!(
            "{},{without_proof}",
            self.auth_message_prefix.as_ref().ok_or("no server-first")?
        );
        let proof = BASE64.decode(proof).map_err(|e| e.to_string())?;
        let client_signature = hmac(self.hash, &self.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err("proof length".into());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if h(self.hash, &client_key) != self.stored_key {
            return Err("invalid proof".into());
        }
        Ok(self.signature(&auth_message))
    }

    /// `v=` for this conversation, whether or not the client's proof was right (a lying server).
    pub fn signature_for(&self, client_final: &[u8]) -> String {
        let client_final = std::str::from_utf8(client_final).unwrap();
        let (without_proof, _) = client_final.rsplit_once(",p=").unwrap();
        self.signature(&format!(
            "{},{without_proof}",
            self.auth_message_prefix.as_ref().unwrap()
        ))
    }

    fn signature(&self, auth_message: &str) -> String {
        format!(
            "v={}",
            BASE64.encode(hmac(self.hash, &self.server_key, auth_message.as_bytes()))
        )
    }
}

pub fn binary(bytes: impl Into<Vec<u8>>) -> Bson {
    Bson::Binary(bson::Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.into(),
    })
}

pub fn to_bytes(doc: &Document) -> Vec<u8> {
    doc.to_vec().unwrap()
}

pub fn to_doc(bytes: &[u8]) -> Document {
    Document::try_from(RawDocument::from_bytes(bytes).unwrap()).unwrap()
}

/// The `payload` of a SASL command or reply.
pub fn payload(doc: &Document) -> Vec<u8> {
    match doc.get("payload") {
        Some(Bson::Binary(b)) => b.bytes.clone(),
        other => panic!("no binary payload: {other:?}"),
    }
}

pub fn sasl_reply(conversation_id: i32, payload: &[u8], done: bool) -> Vec<u8> {
    to_bytes(
        &doc! { "conversationId": conversation_id, "done": done, "payload": binary(payload), "ok": 1.0 },
    )
}

pub fn hello_reply(extra: Document) -> Vec<u8> {
    let mut reply = doc! { "isWritablePrimary": true, "maxWireVersion": 21, "ok": 1.0 };
    reply.extend(extra);
    to_bytes(&reply)
}
