//! The server side of MONGODB-AWS (features `server` and `aws`): the client's signed
//! `GetCallerIdentity` request is checked here (nonce, host, signed headers, date), then the
//! [`StsVerifier`] says whose signature it is: STS itself, over an HTTP exchange the session
//! hands out as an ask, or a [`LocalSts`], which knows some keys and checks their signatures in
//! process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bson::raw::cstr;
use bson::{RawBsonRef, RawDocument, RawDocumentBuf};

use super::conversation::{ServerContext, ServerConversation, Verdict};
use crate::ask::{Answer, Ask, HttpRequest, Reply};
use crate::aws::request::{Authorization, REQUIRED_SIGNED_HEADERS};
use crate::aws::sts::xml_element;
use crate::aws::time::parse_amz_date;
use crate::aws::{MECHANISM, SignedRequest};
use crate::command::binary;
use crate::error::{AwsError, Result};
use crate::secret::{Secret, constant_time_eq};

/// How far the signature date may be from the server's clock, as STS allows.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The request a client signed, once the server checked its shape. Public for the fuzz
/// targets (through `fuzzing`), not for embedders.
#[doc(hidden)]
#[derive(Debug)]
pub struct ClientRequest {
    /// The request as STS receives it.
    pub request: SignedRequest,
    /// The signature date.
    pub signed_at: SystemTime,
    /// The access key id that signed.
    pub access_key_id: String,
    /// The region of the credential scope.
    pub region: String,
    /// The conversation's server nonce (64 bytes).
    pub server_nonce: Vec<u8>,
    /// The session token, for temporary credentials.
    pub session_token: Option<Secret>,
}

/// Who says whose signature a request carries.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StsVerifier {
    /// STS at this endpoint (`https://sts.amazonaws.com/`, or a stand-in such as moto): the
    /// client's request goes there as it was signed, its `Host` included, and STS answering with
    /// the caller's ARN is the login. The session asks for the exchange; ten seconds at most,
    /// the reply capped at 64 KiB.
    Endpoint(String),
    /// Keys the server knows, whose signatures it checks itself.
    Local(Arc<LocalSts>),
}

/// What the server needs for MONGODB-AWS: the STS host clients sign for, and who checks their
/// signatures.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AwsSettings {
    /// The host in server-first (`h`), which clients sign for (default `sts.amazonaws.com`).
    pub sts_host: String,
    /// STS, or a local stand-in.
    pub verifier: StsVerifier,
}

impl AwsSettings {
    /// Signatures checked by `verifier`, for the host `sts.amazonaws.com`.
    pub fn new(verifier: StsVerifier) -> Self {
        AwsSettings {
            sts_host: "sts.amazonaws.com".to_owned(),
            verifier,
        }
    }
}

/// A local STS: access keys it knows, each of an ARN, whose signatures it checks by signing the
/// same request again, so MONGODB-AWS can be tried with no AWS account.
#[derive(Default)]
pub struct LocalSts {
    keys: HashMap<String, LocalKey>,
}

/// A key of the local STS: its caller, its secret, and the session token of a temporary one.
struct LocalKey {
    arn: String,
    secret: Secret,
    session_token: Option<Secret>,
}

impl LocalSts {
    /// No keys.
    pub fn new() -> Self {
        LocalSts::default()
    }

    /// Adds the key `access_key_id` with `secret`, of the caller `arn`.
    pub fn insert(&mut self, arn: &str, access_key_id: &str, secret: Secret) {
        self.insert_key(arn, access_key_id, secret, None);
    }

    /// Adds temporary credentials of the caller `arn` (an assumed role's, say): a request
    /// signed with them must carry `session_token`.
    pub fn insert_temporary(
        &mut self,
        arn: &str,
        access_key_id: &str,
        secret: Secret,
        session_token: Secret,
    ) {
        self.insert_key(arn, access_key_id, secret, Some(session_token));
    }

    fn insert_key(
        &mut self,
        arn: &str,
        access_key_id: &str,
        secret: Secret,
        session_token: Option<Secret>,
    ) {
        self.keys.insert(
            access_key_id.to_owned(),
            LocalKey {
                arn: arn.to_owned(),
                secret,
                session_token,
            },
        );
    }

    /// Whether it knows no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl std::fmt::Debug for LocalSts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSts")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl LocalSts {
    /// The ARN of the caller that signed `client`'s request, or why not (for the fuzz targets).
    #[doc(hidden)]
    pub fn caller_arn(&self, client: &ClientRequest) -> std::result::Result<String, String> {
        let Some(key) = self.keys.get(&client.access_key_id) else {
            return Err("unknown access key id".into());
        };
        match (&key.session_token, &client.session_token) {
            (None, None) => {}
            (Some(known), Some(presented))
                if constant_time_eq(known.expose().as_bytes(), presented.expose().as_bytes()) => {}
            (None, Some(_)) => return Err("a session token with a long-term key".into()),
            (Some(_), _) => return Err("the session token is not the key's".into()),
        }
        let credentials = crate::aws::Credentials::new(
            &client.access_key_id,
            key.secret.clone(),
            key.session_token.clone(),
        );
        let expected = SignedRequest::sign(
            &client.server_nonce,
            client.request.host(),
            &credentials,
            client.signed_at,
        )
        .map_err(|e| e.to_string())?;
        if constant_time_eq(
            expected.authorization().as_bytes(),
            client.request.authorization().as_bytes(),
        ) {
            Ok(key.arn.clone())
        } else {
            Err("the signature does not match".into())
        }
    }
}

/// Reads and checks a client-final payload `{a, d[, t]}` against the conversation: every header
/// of rule K4 signed (the token's too when there is one), the service `sts`, the scope date that
/// of `d`, and `d` within [`MAX_CLOCK_SKEW`] of `now`. Public for the fuzz targets.
#[doc(hidden)]
pub fn read_client_final(
    payload: &[u8],
    server_nonce: &[u8],
    host: &str,
    now: SystemTime,
) -> Result<ClientRequest, AwsError> {
    let malformed = AwsError::MalformedClientFinal;
    let doc = RawDocument::from_bytes(payload).map_err(|_| malformed("not a BSON document"))?;
    let text = |key: &str| match doc.get(key) {
        Ok(Some(RawBsonRef::String(value))) => Ok(Some(value)),
        Ok(None) => Ok(None),
        _ => Err(malformed("a field is not a string")),
    };
    let authorization = text("a")?.ok_or(malformed("no `a` field"))?;
    let date = text("d")?.ok_or(malformed("no `d` field"))?;
    let token = text("t")?;
    let parsed = Authorization::parse(authorization)?;
    let mut required: Vec<&str> = REQUIRED_SIGNED_HEADERS.to_vec();
    if token.is_some() {
        required.push("x-amz-security-token");
    }
    if required
        .iter()
        .any(|header| !parsed.signed_headers.contains(header))
    {
        return Err(malformed("a required header is not signed"));
    }
    if parsed.service != "sts" {
        return Err(malformed("the credential scope is not for sts"));
    }
    let signed_at = parse_amz_date(date).ok_or(malformed("`d` is not YYYYMMDDTHHMMSSZ"))?;
    if date.get(..8) != Some(parsed.date) {
        return Err(malformed("the scope date is not the date of `d`"));
    }
    let skew = match now.duration_since(signed_at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(malformed(
            "`d` is more than 15 minutes from the server's clock",
        ));
    }
    Ok(ClientRequest {
        request: SignedRequest::from_client(server_nonce, host, authorization, date, token),
        signed_at,
        access_key_id: parsed.access_key_id.to_owned(),
        region: parsed.region.to_owned(),
        server_nonce: server_nonce.to_vec(),
        session_token: token.map(Secret::new),
    })
}

/// The user an STS caller ARN logs in as: an assumed role is the user of its role, as in mongod
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` is `arn:aws:iam::ACCOUNT:role/ROLE`).
pub fn user_of_arn(arn: &str) -> String {
    // arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION, in any partition (aws, aws-cn, ...).
    let Some((partition, rest)) = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":sts::"))
    else {
        return arn.to_owned();
    };
    match rest.split_once(":assumed-role/") {
        Some((account, role_and_session)) if !partition.contains(':') => {
            let role = role_and_session
                .rsplit_once('/')
                .map_or(role_and_session, |(role, _)| role);
            format!("arn:{partition}:iam::{account}:role/{role}")
        }
        _ => arn.to_owned(),
    }
}

/// STS's answer to a forwarded request: the caller's ARN, or why not.
pub(crate) fn sts_reply(status: u16, body: &str) -> std::result::Result<String, String> {
    match (status, xml_element(body, "Arn")) {
        (200, Some(arn)) => Ok(arn.to_owned()),
        (200, None) => Err("STS's reply has no Arn".into()),
        (status, _) => Err(format!(
            "STS answered {status} {}",
            xml_element(body, "Code").unwrap_or("(no error code)")
        )),
    }
}

/// One MONGODB-AWS conversation as the session drives it.
#[derive(Default)]
pub(crate) struct AwsConversation {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    /// Server-first is out, with this nonce and host.
    AwaitingRequest { server_nonce: Vec<u8>, host: String },
    /// The request went to STS; its caller's key id, for the log.
    AskedSts { claimed: String },
}

impl AwsConversation {
    /// The login of the caller STS (or the local STS) named.
    fn verdict(
        cx: &ServerContext<'_>,
        arn: std::result::Result<String, String>,
        claimed: String,
    ) -> Verdict {
        match arn {
            Ok(arn) => {
                let user = user_of_arn(&arn);
                if cx.config.users.is_aws_user(&user) {
                    Verdict::Authenticated {
                        user,
                        payload: Vec::new(),
                        expires: None,
                    }
                } else {
                    Verdict::refused(user, "unknown ARN")
                }
            }
            Err(reason) => Verdict::refused(claimed, format!("STS refused: {reason}")),
        }
    }
}

impl ServerConversation for AwsConversation {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    /// `{r, p: 110}` in, `{s: r + 32 random bytes, h}` out.
    fn start(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        let Some(settings) = &cx.config.aws else {
            return Verdict::refused("", "MONGODB-AWS is not enabled");
        };
        let client_nonce = RawDocument::from_bytes(payload).ok().and_then(|doc| {
            let nonce = match doc.get("r") {
                Ok(Some(RawBsonRef::Binary(binary))) if binary.bytes.len() == 32 => binary.bytes,
                _ => return None,
            };
            matches!(doc.get("p"), Ok(Some(RawBsonRef::Int32(110)))).then(|| nonce.to_vec())
        });
        let (Some(mut server_nonce), "$external") = (client_nonce, cx.db) else {
            return Verdict::refused("", "malformed client-first payload or not $external");
        };
        let mut extension = [0u8; 32];
        cx.config.fill_random(&mut extension);
        server_nonce.extend_from_slice(&extension);
        let mut server_first = RawDocumentBuf::new();
        server_first.append(cstr!("s"), binary(&server_nonce));
        server_first.append(cstr!("h"), settings.sts_host.as_str());
        self.state = State::AwaitingRequest {
            server_nonce,
            host: settings.sts_host.clone(),
        };
        Verdict::Continue(server_first.into_bytes())
    }

    /// The signed request: checked here, then verified by the local STS, or sent to STS.
    fn next(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        let State::AwaitingRequest { server_nonce, host } = std::mem::take(&mut self.state) else {
            return Verdict::refused("", "no MONGODB-AWS conversation");
        };
        let Some(settings) = &cx.config.aws else {
            return Verdict::refused("", "MONGODB-AWS is not enabled");
        };
        let request = match read_client_final(payload, &server_nonce, &host, cx.now) {
            Ok(request) => request,
            Err(e) => return Verdict::refused("", e.to_string()),
        };
        let claimed = request.access_key_id.clone();
        match &settings.verifier {
            StsVerifier::Local(sts) => Self::verdict(cx, sts.caller_arn(&request), claimed),
            StsVerifier::Endpoint(endpoint) => {
                let headers = request
                    .request
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.clone(), Secret::new(value.as_str())))
                    .collect();
                let body = request.request.body().as_bytes().to_vec();
                self.state = State::AskedSts { claimed };
                Verdict::Ask(Ask::Http(HttpRequest::new(
                    "POST",
                    endpoint.as_str(),
                    headers,
                    body,
                )))
            }
        }
    }

    fn on_answer(&mut self, cx: &ServerContext<'_>, answer: Answer) -> Verdict {
        let State::AskedSts { claimed } = std::mem::take(&mut self.state) else {
            return Verdict::refused("", "an answer MONGODB-AWS did not ask for");
        };
        let arn = match answer.reply() {
            Reply::Http { status, body } => sts_reply(*status, &String::from_utf8_lossy(body)),
            Reply::Failed(reason) => Err(format!("STS is unreachable: {reason}")),
            _ => Err("an answer of the wrong kind".into()),
        };
        Self::verdict(cx, arn, claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{ClientFirst, Credentials};
    use crate::random;

    #[test]
    fn sts_replies() {
        let ok = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><UserId>X</UserId><Arn>arn:aws:iam::1:user/a</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>";
        assert_eq!(xml_element(ok, "Arn"), Some("arn:aws:iam::1:user/a"));
        assert_eq!(
            xml_element("<Code>SignatureDoesNotMatch</Code>", "Code"),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(xml_element("<Arn>unterminated", "Arn"), None);
        assert_eq!(xml_element("", "Arn"), None);
        assert_eq!(sts_reply(200, ok).as_deref(), Ok("arn:aws:iam::1:user/a"));
        assert!(
            sts_reply(403, "<Code>SignatureDoesNotMatch</Code>")
                .unwrap_err()
                .contains("SignatureDoesNotMatch")
        );
    }

    #[test]
    fn assumed_roles_are_their_role() {
        assert_eq!(
            user_of_arn("arn:aws:sts::123456789012:assumed-role/myrole/mysession"),
            "arn:aws:iam::123456789012:role/myrole"
        );
        assert_eq!(
            user_of_arn("arn:aws-us-gov:sts::123456789012:assumed-role/r/s"),
            "arn:aws-us-gov:iam::123456789012:role/r"
        );
        assert_eq!(
            user_of_arn("arn:aws:iam::123456789012:user/alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
    }

    #[test]
    fn the_local_sts_checks_signatures() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut sts = LocalSts::new();
        sts.insert("arn:aws:iam::1:user/alice", "AKID", Secret::new("right"));
        sts.insert_temporary(
            "arn:aws:iam::1:role/dev",
            "ASIA",
            Secret::new("right"),
            Secret::new("token"),
        );
        let mut fixed = random::from_fn(|bytes: &mut [u8]| bytes.fill(1));
        let signed_as = |key: &str, secret: &str, token: Option<&str>, skew: i64| {
            let (_, client) = ClientFirst::start(&mut fixed.clone());
            let mut nonce = client.nonce().to_vec();
            nonce.extend_from_slice(&[2; 32]);
            let mut server_first = bson::rawdoc! { "h": "sts.amazonaws.com" };
            server_first.append(bson::raw::cstr!("s"), crate::command::binary(&nonce));
            let credentials = Credentials::new(key, secret, token.map(Secret::new));
            let payload = client
                .finish(server_first.as_bytes(), &credentials, now)
                .unwrap();
            let server_now = if skew >= 0 {
                now + Duration::from_secs(skew as u64)
            } else {
                now - Duration::from_secs(skew.unsigned_abs())
            };
            let request = read_client_final(&payload, &nonce, "sts.amazonaws.com", server_now)
                .map_err(|e| e.to_string())?;
            sts.caller_arn(&request)
        };
        let login = |secret: &str, skew: i64| signed_as("AKID", secret, None, skew);
        assert_eq!(login("right", 0).unwrap(), "arn:aws:iam::1:user/alice");
        // Temporary credentials sign with their session token, which must be theirs.
        assert_eq!(
            signed_as("ASIA", "right", Some("token"), 0).unwrap(),
            "arn:aws:iam::1:role/dev"
        );
        for (token, refusal) in [
            (Some("other"), "the session token is not the key's"),
            (None, "the session token is not the key's"),
        ] {
            assert_eq!(signed_as("ASIA", "right", token, 0).unwrap_err(), refusal);
        }
        assert_eq!(
            signed_as("AKID", "right", Some("token"), 0).unwrap_err(),
            "a session token with a long-term key"
        );
        assert_eq!(
            login("wrong", 0).unwrap_err(),
            "the signature does not match"
        );
        assert!(login("right", 16 * 60).unwrap_err().contains("15 minutes"));
        assert!(login("right", -16 * 60).unwrap_err().contains("15 minutes"));
        let _ = &mut fixed;
    }
}
