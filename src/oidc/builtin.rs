//! The built-in environments of rules L7 to L10: each is a machine callback that asks its caller
//! for one file or one HTTP exchange.

use std::path::PathBuf;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::callback::Token;
use crate::ask::{Answer, Ask, HttpRequest, Reply};
use crate::environment::Environment;
use crate::error::{OidcError, Result};
use crate::secret::Secret;

/// Azure's instance metadata service (rule L8).
pub(crate) const AZURE_ENDPOINT: &str = "http://169.254.169.254";
/// GCP's metadata server (rule L9).
pub(crate) const GCP_ENDPOINT: &str = "http://metadata";
/// Where Kubernetes mounts a service account's token (rule L10).
const K8S_DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A query component: everything but RFC 3986's unreserved characters is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How much of an error body goes into the error.
const BODY_IN_ERROR: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuiltIn {
    Test,
    Azure,
    Gcp,
    K8s,
}

impl BuiltIn {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BuiltIn::Test => "test",
            BuiltIn::Azure => "azure",
            BuiltIn::Gcp => "gcp",
            BuiltIn::K8s => "k8s",
        }
    }

    /// The environment named by `ENVIRONMENT`, and what it asks for. `endpoint` replaces the
    /// metadata host of Azure or GCP (a test's stand-in).
    pub(crate) fn ask(
        environment: &str,
        token_resource: Option<&str>,
        username: Option<&str>,
        env: &dyn Environment,
        endpoint: Option<&str>,
    ) -> Result<(BuiltIn, Ask)> {
        let set = |name: &str| env.populated(name);
        let resource = || {
            token_resource
                .map(|r| utf8_percent_encode(r, QUERY_VALUE).to_string())
                .ok_or(OidcError::EnvironmentIncomplete {
                    environment: if environment == "azure" {
                        "azure"
                    } else {
                        "gcp"
                    },
                    needs: "TOKEN_RESOURCE",
                })
        };
        Ok(match environment {
            "test" => {
                let path = set("OIDC_TOKEN_FILE").ok_or(OidcError::EnvironmentIncomplete {
                    environment: "test",
                    needs: "OIDC_TOKEN_FILE",
                })?;
                (BuiltIn::Test, Ask::read_file(path))
            }
            "k8s" => {
                let path = set("AZURE_FEDERATED_TOKEN_FILE")
                    .or_else(|| set("AWS_WEB_IDENTITY_TOKEN_FILE"))
                    .map_or_else(|| PathBuf::from(K8S_DEFAULT_TOKEN_FILE), PathBuf::from);
                (BuiltIn::K8s, Ask::read_file(path))
            }
            "azure" => {
                let mut url = format!(
                    "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                    endpoint.unwrap_or(AZURE_ENDPOINT),
                    resource()?
                );
                if let Some(client_id) = username {
                    url.push_str("&client_id=");
                    url.extend(utf8_percent_encode(client_id, QUERY_VALUE));
                }
                let headers = vec![
                    ("Accept".to_owned(), Secret::new("application/json")),
                    ("Metadata".to_owned(), Secret::new("true")),
                ];
                (BuiltIn::Azure, get(url, headers))
            }
            "gcp" => {
                let url = format!(
                    "{}/computeMetadata/v1/instance/service-accounts/default/identity?audience={}",
                    endpoint.unwrap_or(GCP_ENDPOINT),
                    resource()?
                );
                let headers = vec![("Metadata-Flavor".to_owned(), Secret::new("Google"))];
                (BuiltIn::Gcp, get(url, headers))
            }
            other => {
                return Err(OidcError::UnknownEnvironment {
                    environment: other.to_owned(),
                }
                .into());
            }
        })
    }

    /// The token in the answer to this environment's ask.
    pub(crate) fn token(self, answer: Answer) -> Result<Token> {
        let name = self.name();
        match answer.into_reply() {
            Reply::File(Some(bytes)) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| OidcError::TokenFile {
                    environment: name,
                    problem: "is not UTF-8",
                })?;
                Ok(Token::new(Secret::new(text.trim())))
            }
            Reply::File(None) => Err(OidcError::TokenFile {
                environment: name,
                problem: "does not exist",
            }
            .into()),
            Reply::Http { status: 200, body } => match self {
                BuiltIn::Azure => azure_token(&body),
                _ => {
                    let text =
                        std::str::from_utf8(&body).map_err(|_| OidcError::MalformedTokenReply {
                            environment: name,
                            rule: "is not UTF-8",
                        })?;
                    Ok(Token::new(text.trim()))
                }
            },
            Reply::Http { status, body } => {
                let shown = String::from_utf8_lossy(body.get(..BODY_IN_ERROR).unwrap_or(&body));
                Err(OidcError::EndpointRefused {
                    environment: name,
                    status,
                    body: shown.into_owned(),
                }
                .into())
            }
            Reply::Failed(reason) => Err(OidcError::SourceUnavailable {
                environment: name,
                reason,
            }
            .into()),
            _ => Err(crate::Error::InvalidInput {
                rule: "the answer is not of the kind the OIDC environment asked for",
            }),
        }
    }
}

fn get(url: String, headers: Vec<(String, Secret)>) -> Ask {
    Ask::Http(HttpRequest::new("GET", url, headers, Vec::new()))
}

/// `access_token` (and `expires_in`, which Azure sends as a string of seconds) of Azure's reply.
pub(crate) fn azure_token(body: &[u8]) -> Result<Token> {
    let malformed = || OidcError::MalformedTokenReply {
        environment: "azure",
        rule: "has no string `access_token`",
    };
    let value = crate::secret::SecretJson::parse(body).ok_or_else(malformed)?;
    let access_token = value
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(malformed)?;
    let mut token = Token::new(access_token);
    let expires_in = match value.get("expires_in") {
        Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    if let Some(seconds) = expires_in {
        token = token.with_expires_in(std::time::Duration::from_secs(seconds));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    fn url(ask: &Ask) -> (&str, Vec<&str>) {
        let Ask::Http(request) = ask else {
            panic!("not an HTTP ask: {ask:?}")
        };
        (
            request.url(),
            request
                .headers()
                .iter()
                .map(|(n, v)| {
                    if n == "Metadata" || n == "Metadata-Flavor" {
                        v.expose()
                    } else {
                        n.as_str()
                    }
                })
                .collect(),
        )
    }

    #[test]
    fn azure_asks_the_metadata_service_with_the_resource_and_client_id() {
        let env = MapEnvironment::from([("X", "")]);
        let (_, ask) =
            BuiltIn::ask("azure", Some("api://a b,c"), Some("id 1"), &env, None).unwrap();
        let (url, headers) = url(&ask);
        assert_eq!(
            url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api%3A%2F%2Fa%20b%2Cc&client_id=id%201"
        );
        assert_eq!(headers, ["Accept", "true"]);
        let (_, ask) = BuiltIn::ask("azure", Some("r"), None, &env, None).unwrap();
        assert!(!url_of(&ask).contains("client_id"));
    }

    fn url_of(ask: &Ask) -> String {
        url(ask).0.to_owned()
    }

    #[test]
    fn gcp_asks_for_an_identity_with_the_audience() {
        let env = MapEnvironment::from([("X", "")]);
        let (_, ask) = BuiltIn::ask("gcp", Some("aud/1"), None, &env, None).unwrap();
        let (url, headers) = url(&ask);
        assert_eq!(
            url,
            "http://metadata/computeMetadata/v1/instance/service-accounts/default/identity?audience=aud%2F1"
        );
        assert_eq!(headers, ["Google"]);
    }

    #[test]
    fn k8s_reads_the_token_files_in_the_order_of_rule_l10() {
        let path =
            |env: MapEnvironment| match BuiltIn::ask("k8s", None, None, &env, None).unwrap().1 {
                Ask::ReadFile(file) => file.path().to_owned(),
                other => panic!("{other:?}"),
            };
        assert_eq!(
            path(MapEnvironment::from([
                ("AZURE_FEDERATED_TOKEN_FILE", "/a"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/b")
            ])),
            PathBuf::from("/a")
        );
        assert_eq!(
            path(MapEnvironment::from([(
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "/b"
            )])),
            PathBuf::from("/b")
        );
        assert_eq!(
            path(MapEnvironment::from([("X", "")])),
            PathBuf::from(K8S_DEFAULT_TOKEN_FILE)
        );
    }

    /// The answer of Azure's metadata endpoint.
    fn azure_reply(status: u16, body: &[u8]) -> Answer {
        let env = MapEnvironment::from([("X", "")]);
        let (_, ask) = BuiltIn::ask("azure", Some("r"), None, &env, None).unwrap();
        let Ask::Http(request) = ask else {
            unreachable!()
        };
        request.answer(status, zeroize::Zeroizing::new(body.to_vec()))
    }

    #[test]
    fn a_refusal_names_its_status_and_body() {
        let error = BuiltIn::Azure
            .token(azure_reply(400, b"{\"error\":\"invalid_resource\"}"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("400") && error.contains("invalid_resource"),
            "{error}"
        );
    }

    #[test]
    fn azure_tokens_come_from_access_token() {
        let token = BuiltIn::Azure
            .token(azure_reply(
                200,
                br#"{"access_token":"t1","expires_in":"3599","token_type":"Bearer"}"#,
            ))
            .unwrap();
        assert_eq!(token.access_token.expose(), "t1");
        assert_eq!(token.expires_in, Some(std::time::Duration::from_secs(3599)));
        assert!(BuiltIn::Azure.token(azure_reply(200, b"{}")).is_err());
    }
}
