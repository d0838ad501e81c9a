//! The I/O-free part of a connection's login, shared by the adapters: the `hello` that opens the
//! connection, the authenticator, what to write next, what to run or answer, the events to
//! report. It lives as long as the connection, so the connection can log in again when the
//! server asks (error 391).

use std::sync::atomic::{AtomicI32, Ordering};

use bson::{RawDocument, RawDocumentBuf};
use zeroize::Zeroizing;

use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::command::{Command, check_reply, error_code};
use mongodb_auth::credential::Credential;
use mongodb_auth::error::{Error, REAUTHENTICATION_REQUIRED, Result};
use mongodb_auth::handshake::{
    AuthOptions, Authenticator, CallbackOutput, CallbackRequest, Hello, Job, JobOutput, Outcome,
    Step, check_load_balanced_reply, field_names,
};
use mongodb_auth::uri::ConnectionString;
use mongodb_auth::wire;
use mongodb_auth::{GenericArguments, ServerApi};

use crate::options::{ConnectOptions, Event};

/// The result of authenticating a connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Authenticated {
    /// How authentication went (`mechanism` is `None` when the connection string has no
    /// credential or the server is an arbiter).
    pub outcome: Outcome,
    /// The server's `hello` reply, as BSON bytes.
    pub hello_reply: Vec<u8>,
}

static NEXT_REQUEST_ID: AtomicI32 = AtomicI32::new(1);

/// A process-wide request id, so replies can be matched even across connections in logs.
fn next_request_id() -> i32 {
    NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed).max(1)
}

/// A message to write, with what to report about it.
pub(crate) struct Outgoing {
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    pub(crate) request_id: i32,
    /// What was appended to a caller's command (the declared stable API, `maxTimeMS`), for
    /// monitoring to show it as sent.
    pub(crate) arguments: GenericArguments,
    /// What the message is: the report reads its name and fields from it only when someone
    /// observes the connection.
    what: Sent,
}

enum Sent {
    /// A command of the login, moved in whole.
    Command(Command),
    /// A command the caller keeps: its name and database, read only when someone observes.
    Caller { command: String, db: String },
    Hello {
        command: &'static str,
        op: &'static str,
        auth_fields: Zeroizing<Vec<u8>>,
    },
}

impl Outgoing {
    pub(crate) fn command(command: Command, api: Option<&ServerApi>) -> Result<Self> {
        let request_id = next_request_id();
        Ok(Outgoing {
            bytes: wire::encode_command_with(
                &command,
                request_id,
                &GenericArguments::new().server_api(api.copied()),
            )?,
            request_id,
            arguments: GenericArguments::new(),
            what: Sent::Command(command),
        })
    }

    /// A command the caller keeps (`run_command`), with `arguments` appended: not copied, only
    /// described for an observer.
    pub(crate) fn caller_command(
        command: &Command,
        arguments: GenericArguments,
        options: &ConnectOptions,
    ) -> Result<Self> {
        let request_id = next_request_id();
        let (name, db) = if options.is_observed() {
            (command.name().to_owned(), command.db().to_owned())
        } else {
            (String::new(), String::new())
        };
        Ok(Outgoing {
            bytes: wire::encode_command_with(command, request_id, &arguments)?,
            request_id,
            arguments,
            what: Sent::Caller { command: name, db },
        })
    }

    /// The opening `hello`, with the authenticator's fields merged in.
    fn hello(hello: &Hello<'_>, auth_fields: Zeroizing<Vec<u8>>) -> Result<Self> {
        let request_id = next_request_id();
        Ok(Outgoing {
            bytes: hello.encode(&auth_fields, request_id)?,
            request_id,
            arguments: GenericArguments::new(),
            what: Sent::Hello {
                command: hello.command_name(),
                op: hello.op_name(),
                auth_fields,
            },
        })
    }

    pub(crate) fn report(&self, options: &ConnectOptions) {
        if !options.is_observed() {
            return;
        }
        let bytes = self.bytes.len();
        match &self.what {
            Sent::Command(command) => options.emit(Event::Sent {
                command: command.name(),
                db: command.db(),
                op: "OP_MSG",
                auth_fields: Vec::new(),
                bytes,
            }),
            Sent::Caller { command, db } => options.emit(Event::Sent {
                command,
                db,
                op: "OP_MSG",
                auth_fields: Vec::new(),
                bytes,
            }),
            Sent::Hello {
                command,
                op,
                auth_fields,
            } => {
                // `encode` read them as a document already.
                let names = field_names(auth_fields).unwrap_or_default();
                options.emit(Event::Sent {
                    command,
                    db: "admin",
                    op,
                    auth_fields: names.iter().map(String::as_str).collect(),
                    bytes,
                });
            }
        }
    }
}

/// Reports a reply.
pub(crate) fn received(options: &ConnectOptions, reply: &[u8]) {
    // Nobody to tell: the reply is not read for it.
    if !options.is_observed() {
        return;
    }
    let speculative = RawDocument::from_bytes(reply)
        .ok()
        .is_some_and(|doc| matches!(doc.get("speculativeAuthenticate"), Ok(Some(_))));
    options.emit(Event::Received {
        bytes: reply.len(),
        speculative,
    });
}

/// What an adapter does next.
pub(crate) enum Next {
    /// Write this message and pass its reply to [`Login::on_reply`].
    Write(Outgoing),
    /// Run this job and pass its output to [`Login::on_job`].
    Job(Job),
    /// Answer this and pass the answer to [`Login::on_answer`].
    Ask(Ask),
    /// Run the caller's code and pass its output to [`Login::on_callback`].
    Callback(CallbackRequest),
    /// The connection is authenticated (or needed no authentication).
    Done(Authenticated),
}

/// One connection's login.
pub(crate) struct Login {
    authenticator: Option<Authenticator>,
    hello_reply: Option<Vec<u8>>,
    /// `hello` said `loadBalanced: true`: its reply must carry a `serviceId`.
    load_balanced: bool,
    /// The stable API version the client declared, which every command carries.
    server_api: Option<ServerApi>,
}

impl Login {
    /// Whether the connection said `loadBalanced: true` in its `hello`.
    pub(crate) fn is_load_balanced(&self) -> bool {
        self.load_balanced
    }

    /// Prepares the login with the server at `host` (as connected to: MONGODB-OIDC's
    /// `ALLOWED_HOSTS`, GSSAPI's service principal); returns it and the `hello` to write first.
    pub(crate) fn start(
        credential: Option<&Credential>,
        host: Option<&str>,
        options: &ConnectOptions,
        hello: &Hello<'_>,
    ) -> Result<(Login, Outgoing)> {
        let mut authenticator = credential
            .map(|credential| Authenticator::new(credential, auth_options(options, host)))
            .transpose()?;
        let fields = match &mut authenticator {
            Some(auth) => auth.hello_fields()?,
            None => Zeroizing::new(RawDocumentBuf::new().into_bytes()),
        };
        let login = Login {
            authenticator,
            hello_reply: None,
            load_balanced: hello.is_load_balanced(),
            server_api: options.server_api,
        };
        Ok((login, Outgoing::hello(hello, fields)?))
    }

    /// [`start`](Self::start) for a connection to `host` of `cs`: its credential, and the hello
    /// style, application name, wrapping libraries' info, `client.env` and load balancing its
    /// options ask for.
    pub(crate) fn for_connection(
        cs: &ConnectionString,
        host: &str,
        options: &ConnectOptions,
    ) -> Result<(Login, Outgoing)> {
        let env = options.client_env();
        let hello = options
            .hello(options.app_name.as_deref(), &options.driver_info, &env)
            .load_balanced(cs.flag("loadBalanced") == Some(true));
        Login::start(cs.credential(), Some(host), options, &hello)
    }

    /// Takes the reply to the message last written.
    pub(crate) fn on_reply(&mut self, reply: Vec<u8>) -> Result<Next> {
        if self.load_balanced && self.hello_reply.is_none() {
            check_load_balanced_reply(&reply)?;
        }
        let step = match (&mut self.authenticator, &self.hello_reply) {
            (None, _) => {
                check_reply(&reply)?;
                self.hello_reply = Some(reply.clone());
                return Ok(Next::Done(Authenticated {
                    outcome: Outcome::unauthenticated(reply.clone()),
                    hello_reply: reply,
                }));
            }
            (Some(auth), None) => {
                let step = auth.handle_hello_reply(&reply)?;
                self.hello_reply = Some(reply);
                step
            }
            (Some(auth), Some(_)) => auth.handle_reply(&reply)?,
        };
        self.next(step)
    }

    /// Takes the output of a [`Next::Job`].
    pub(crate) fn on_job(&mut self, output: JobOutput) -> Result<Next> {
        let step = self.authenticator("on_job")?.handle_job(output)?;
        self.next(step)
    }

    /// Takes the answer of a [`Next::Ask`].
    pub(crate) fn on_answer(&mut self, answer: Answer) -> Result<Next> {
        let step = self.authenticator("on_answer")?.handle_answer(answer)?;
        self.next(step)
    }

    /// Takes the output of a [`Next::Callback`], reporting an OIDC token.
    pub(crate) fn on_callback(
        &mut self,
        output: CallbackOutput,
        environment: Option<&'static str>,
        options: &ConnectOptions,
    ) -> Result<Next> {
        if self.authenticator("on_callback")?.mechanism()
            == Some(mongodb_auth::AuthMechanism::MongoDbOidc)
        {
            options.emit(Event::OidcToken {
                environment,
                from_cache: output.from_cache(),
            });
        }
        let step = self.authenticator("on_callback")?.handle_callback(output)?;
        self.next(step)
    }

    /// Whether `reply` asks for re-authentication and this connection can do it (it logged in
    /// with a credential).
    pub(crate) fn wants_reauthentication(&self, reply: &[u8]) -> bool {
        self.authenticator.is_some() && error_code(reply) == Some(REAUTHENTICATION_REQUIRED)
    }

    /// Starts logging in again on the open connection (rules M1, M2: no `hello`).
    pub(crate) fn reauthenticate(&mut self) -> Result<Next> {
        let step = self.authenticator("reauthenticate")?.reauthenticate()?;
        self.next(step)
    }

    fn authenticator(&mut self, call: &'static str) -> Result<&mut Authenticator> {
        self.authenticator.as_mut().ok_or(Error::OutOfOrder {
            call,
            state: "no credential",
        })
    }

    fn next(&mut self, step: Step) -> Result<Next> {
        Ok(match step {
            Step::Send(command) => {
                Next::Write(Outgoing::command(command, self.server_api.as_ref())?)
            }
            Step::Job(job) => Next::Job(job),
            Step::Ask(ask) => Next::Ask(ask),
            Step::Callback(request) => Next::Callback(request),
            Step::Done(outcome) => Next::Done(Authenticated {
                outcome,
                hello_reply: self.hello_reply.clone().unwrap_or_default(),
            }),
            other => return Err(other.unhandled()),
        })
    }
}

/// The authenticator's options for a connection to `host`: the caller's, with the host (and,
/// with feature `gssapi`, the system's Kerberos when the caller gave no GSSAPI provider).
fn auth_options(options: &ConnectOptions, host: Option<&str>) -> AuthOptions {
    let mut auth = options.auth.clone();
    if let Some(host) = host {
        auth = auth.server_host(host);
    }
    #[cfg(feature = "gssapi")]
    if !auth.has_gssapi_provider() {
        auth = auth.gssapi_provider(std::sync::Arc::new(crate::kerberos::Kerberos));
    }
    auth
}
