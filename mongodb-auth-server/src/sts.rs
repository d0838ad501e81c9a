//! STS over HTTP, for the MONGODB-AWS check of the core: the client's signed request goes to
//! STS (or a stand-in such as moto) and STS answering with the caller's ARN is the login.

use std::time::Duration;

use mongodb_auth::server::aws::{ClientRequest, StsVerifier};

/// STS over HTTP: the request goes to `endpoint` (STS, or a stand-in such as moto) with every
/// header the client signed, its `Host` included; STS answering with the caller's ARN is the
/// login. Ten seconds at most; the reply is capped at 64 KiB.
pub struct HttpSts {
    endpoint: String,
    agent: ureq::Agent,
}

impl HttpSts {
    /// The largest STS reply read.
    pub const MAX_REPLY: u64 = 64 * 1024;

    /// Forwards to `endpoint`, e.g. `https://sts.amazonaws.com/`.
    pub fn new(endpoint: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        HttpSts {
            endpoint: endpoint.to_owned(),
            agent,
        }
    }
}

impl std::fmt::Debug for HttpSts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSts")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl StsVerifier for HttpSts {
    fn caller_arn(&self, client: &ClientRequest) -> std::result::Result<String, String> {
        let mut request = self.agent.post(&self.endpoint);
        for (name, value) in client.request.headers() {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request
            .send(client.request.body())
            .map_err(|e| format!("STS at {} is unreachable: {e}", self.endpoint))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(Self::MAX_REPLY)
            .read_to_string()
            .map_err(|e| format!("reading STS's reply: {e}"))?;
        use mongodb_auth::aws::sts::xml_element;
        match (status, xml_element(&body, "Arn")) {
            (200, Some(arn)) => Ok(arn.to_owned()),
            (200, None) => Err("STS's reply has no Arn".into()),
            (status, _) => Err(format!(
                "STS answered {status} {}",
                xml_element(&body, "Code").unwrap_or("(no error code)")
            )),
        }
    }
}
