//! The spec's unified auth tests (`auth/tests/unified/*.json`), one named test per case, run
//! through this crate's blocking adapter against the embedded server with test commands on: a
//! small interpreter for what those files use. Entities `client`, `database` and `collection`;
//! operations `find`, `insertOne` and the test runner's `failPoint`; `initialData`;
//! `expectResult`, `expectError` and `expectEvents` with command started, succeeded and failed
//! events. Anything else a file asks for fails its test by name, never passes.
//!
//! The server answers as MongoDB 7.0 with authentication on, and speaks MONGODB-OIDC with one
//! identity provider whose tokens are made at run time: the files' `$$placeholder` mechanism
//! properties become `ENVIRONMENT:test`, with `OIDC_TOKEN_FILE` in the client's own
//! environment. Clients that name no mechanism log in as a SCRAM user, as a test suite's
//! utility clients use the deployment's credentials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bson::{Bson, Document, RawDocument};
use libtest_mimic::{Failed, Trial};
use mongodb_auth::environment::MapEnvironment;
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth::{AuthOptions, Command, ConnectionString, Error};
use mongodb_auth_io::{ConnectOptions, Event, blocking};
use mongodb_auth_server::ServerConfig;
use mongodb_auth_server::devpki::TokenIssuer;
use mongodb_auth_server::jwks::Jwks;
use mongodb_auth_testkit::TempDir;
use mongodb_auth_testkit::embedded::{TestServer, scram_users};

/// The version the embedded server reports, for `runOnRequirements`.
const SERVER_VERSION: [u64; 3] = [7, 0, 0];
/// The schema versions this interpreter reads.
const SCHEMA_MAJOR: u64 = 1;

type Outcome = Result<(), String>;

/// A trial per test of each file of `auth/tests/unified`.
pub fn trials(root: &Path) -> Vec<Trial> {
    let dir = root.join("auth/tests/unified");
    let mut trials = Vec::new();
    let mut skipped = Vec::new();
    for file in super::json_files(&dir) {
        let label = super::label(root, &file);
        let json = super::load(&file);
        let spec = match Bson::try_from(json) {
            Ok(Bson::Document(spec)) => Arc::new(spec),
            other => {
                let reason = format!("not a document of extended JSON: {other:?}");
                trials.push(Trial::test(label, move || Err(reason.into())));
                continue;
            }
        };
        let tests = match spec.get_array("tests") {
            Ok(tests) if !tests.is_empty() => tests.clone(),
            _ => {
                let reason = "no list of tests".to_owned();
                trials.push(Trial::test(label, move || Err(reason.into())));
                continue;
            }
        };
        for (index, test) in tests.into_iter().enumerate() {
            let Bson::Document(test) = test else {
                let reason = "a test that is not a document".to_owned();
                trials.push(Trial::test(format!("{label}: #{index}"), move || {
                    Err(reason.into())
                }));
                continue;
            };
            let description = test.get_str("description").unwrap_or("?").to_owned();
            let name = format!("{label}: {description}");
            let ignored = test.get_str("skipReason").is_ok()
                || !requirements_met(&spec).unwrap_or(true)
                || !requirements_met(&test).unwrap_or(true);
            if ignored {
                skipped.push(name.clone());
            }
            let spec = spec.clone();
            let trial = Trial::test(name, move || run_test(&spec, &test).map_err(Failed::from));
            trials.push(trial.with_ignored_flag(ignored));
        }
    }
    // An ignored test passes `cargo test`: a requirement read as unmet (a server version, a
    // topology) would skip the auth spec's tests without anything failing.
    trials.push(Trial::test(
        "auth/unified: every test runs here, none skipped",
        move || {
            if skipped.is_empty() {
                Ok(())
            } else {
                Err(format!("skipped here: {skipped:?}").into())
            }
        },
    ));
    trials
}

/// Whether one of the `runOnRequirements` of `node` holds here (none given: yes); `Err` for a
/// requirement this interpreter does not know, which then fails the test when it runs.
fn requirements_met(node: &Document) -> Result<bool, String> {
    let Ok(requirements) = node.get_array("runOnRequirements") else {
        return Ok(true);
    };
    let mut any = false;
    for requirement in requirements {
        let Bson::Document(requirement) = requirement else {
            return Err("a runOnRequirement that is not a document".into());
        };
        let mut met = true;
        for (key, value) in requirement {
            met &= match (key.as_str(), value) {
                ("minServerVersion", Bson::String(v)) => version(v) <= SERVER_VERSION,
                ("maxServerVersion", Bson::String(v)) => version(v) >= SERVER_VERSION,
                ("topologies", Bson::Array(t)) => t.iter().any(|t| t.as_str() == Some("single")),
                ("serverless", Bson::String(s)) => s != "require",
                ("auth", Bson::Boolean(auth)) => *auth,
                ("authMechanism", Bson::String(m)) => {
                    ["MONGODB-OIDC", "SCRAM-SHA-256", "SCRAM-SHA-1"].contains(&m.as_str())
                }
                (other, _) => {
                    return Err(format!("the runOnRequirement `{other}` is not supported"));
                }
            };
        }
        any |= met;
    }
    Ok(any)
}

/// `7.0` -> [7, 0, 0].
fn version(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|p| p.parse().unwrap_or(0));
    [
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    ]
}

/// The embedded server of one test, its identity provider, and a file with a good token.
struct Fixture {
    server: TestServer,
    token_file: PathBuf,
    _files: TempDir,
}

impl Fixture {
    fn start() -> Result<Fixture, String> {
        let files = TempDir::new("unified");
        let issuer =
            TokenIssuer::generate("https://idp.unified.test").map_err(|e| e.to_string())?;
        let now = SystemTime::now();
        let token = issuer
            .issue(
                "test_user1",
                "unified",
                now,
                now + Duration::from_secs(3600),
            )
            .map_err(|e| e.to_string())?;
        let token_file = files.join("token");
        std::fs::write(&token_file, token).map_err(|e| e.to_string())?;
        let keys = Jwks::from_json(issuer.jwks().as_bytes()).map_err(|e| e.to_string())?;
        let users = scram_users(&[(
            "admin",
            "utility",
            "pencil",
            &[mongodb_auth::ScramVariant::Sha256],
        )]);
        let mut config = ServerConfig::new(users).oidc(OidcSettings::new(
            issuer.issuer(),
            "unified",
            Arc::new(keys),
        ));
        config.enable_test_commands = true;
        Ok(Fixture {
            server: TestServer::start(config),
            token_file,
            _files: files,
        })
    }
}

/// A command event, as a client entity observed it.
#[derive(Debug, Clone)]
enum Observed {
    Started {
        name: String,
        db: String,
        command: Document,
    },
    Succeeded {
        name: String,
        reply: Document,
    },
    Failed {
        name: String,
    },
}

/// A client entity: one connection (a pool of one), opened when an operation needs it and
/// dropped after an I/O error, as a pool drops a broken connection.
struct Client {
    cs: ConnectionString,
    options: ConnectOptions,
    connection: Option<blocking::Connection>,
    events: Arc<Mutex<Vec<Observed>>>,
}

impl Client {
    /// Runs `command`: its reply, or the error (a server error for an `ok: 0` reply).
    fn run(&mut self, command: Command) -> Result<Document, Error> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self
                .connection
                .insert(blocking::connect(&self.cs, self.options.clone())?),
        };
        let result = connection.run_command(&command).and_then(|reply| {
            mongodb_auth::command::check_reply(&reply)?;
            Ok(reply)
        });
        match result {
            Ok(reply) => Ok(document(&reply)),
            Err(error) => {
                if !matches!(error, Error::Server { .. }) {
                    self.connection = None;
                }
                Err(error)
            }
        }
    }
}

fn document(bytes: &[u8]) -> Document {
    RawDocument::from_bytes(bytes)
        .ok()
        .and_then(|raw| Document::try_from(raw).ok())
        .unwrap_or_default()
}

enum Entity {
    Client(Box<Client>),
    Database {
        client: String,
        name: String,
    },
    Collection {
        client: String,
        database: String,
        name: String,
    },
}

struct Runner {
    fixture: Fixture,
    entities: HashMap<String, Entity>,
    /// The clients that set fail points, to turn them off after the test.
    fail_points: Vec<(String, String)>,
}

fn run_test(spec: &Document, test: &Document) -> Outcome {
    let schema = spec
        .get_str("schemaVersion")
        .map_err(|_| "no schemaVersion")?;
    if version(schema)[0] != SCHEMA_MAJOR {
        return Err(format!("schema version {schema} is not supported"));
    }
    requirements_met(spec)?;
    requirements_met(test)?;
    let known = [
        "description",
        "schemaVersion",
        "runOnRequirements",
        "createEntities",
        "initialData",
        "tests",
        "_yamlAnchors",
    ];
    if let Some(key) = spec.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("the file's `{key}` is not supported"));
    }
    let mut runner = Runner {
        fixture: Fixture::start()?,
        entities: HashMap::new(),
        fail_points: Vec::new(),
    };
    for entity in spec
        .get_array("createEntities")
        .map_err(|_| "no createEntities")?
    {
        runner.create_entity(entity)?;
    }
    if let Ok(data) = spec.get_array("initialData") {
        runner.initial_data(data)?;
    }
    let result = runner.run_operations_and_expectations(test);
    runner.turn_off_fail_points();
    result
}

impl Runner {
    fn create_entity(&mut self, entity: &Bson) -> Outcome {
        let Some(entity) = entity.as_document() else {
            return Err("an entity that is not a document".into());
        };
        let (kind, body) = entity.iter().next().ok_or("an empty entity")?;
        let body = body
            .as_document()
            .ok_or("an entity that is not a document")?;
        let id = body
            .get_str("id")
            .map_err(|_| "an entity without an id")?
            .to_owned();
        let created = match kind.as_str() {
            "client" => Entity::Client(Box::new(self.client(body)?)),
            "database" => Entity::Database {
                client: body
                    .get_str("client")
                    .map_err(|_| "a database without a client")?
                    .to_owned(),
                name: body
                    .get_str("databaseName")
                    .map_err(|_| "a database without a name")?
                    .to_owned(),
            },
            "collection" => {
                let database = body
                    .get_str("database")
                    .map_err(|_| "a collection without a database")?;
                let Some(Entity::Database { client, name }) = self.entities.get(database) else {
                    return Err(format!("no database entity `{database}`"));
                };
                Entity::Collection {
                    client: client.clone(),
                    database: name.clone(),
                    name: body
                        .get_str("collectionName")
                        .map_err(|_| "a collection without a name")?
                        .to_owned(),
                }
            }
            other => return Err(format!("the entity type `{other}` is not supported")),
        };
        for key in body.keys() {
            let allowed: &[&str] = match kind.as_str() {
                "client" => &["id", "uriOptions", "useMultipleMongoses", "observeEvents"],
                "database" => &["id", "client", "databaseName"],
                _ => &["id", "database", "collectionName"],
            };
            if !allowed.contains(&key.as_str()) {
                return Err(format!("the {kind} entity's `{key}` is not supported"));
            }
        }
        self.entities.insert(id, created);
        Ok(())
    }

    /// A client of the embedded server with the entity's URI options.
    fn client(&self, body: &Document) -> Result<Client, String> {
        let empty = Document::new();
        let uri_options = body.get_document("uriOptions").unwrap_or(&empty);
        let mut query = Vec::new();
        let mut oidc = false;
        for (key, value) in uri_options {
            let value = match (key.as_str(), value) {
                ("authMechanismProperties", Bson::Document(properties)) => {
                    if properties.contains_key("$$placeholder") {
                        "ENVIRONMENT:test".to_owned()
                    } else {
                        properties
                            .iter()
                            .map(|(k, v)| format!("{k}:{}", plain(v)))
                            .collect::<Vec<_>>()
                            .join(",")
                    }
                }
                ("authMechanism", Bson::String(m)) => {
                    oidc = m == "MONGODB-OIDC";
                    m.clone()
                }
                (_, Bson::Document(_) | Bson::Array(_)) => {
                    return Err(format!("the URI option `{key}` is not supported"));
                }
                (_, value) => plain(value),
            };
            // The files' values are plain words; one that would need escaping is not read.
            if value.contains(['&', '=', '#', '?', '/', '@', '%']) {
                return Err(format!("the URI option value `{value}` is not supported"));
            }
            query.push(format!("{key}={value}"));
        }
        let userinfo = if uri_options.contains_key("authMechanism") {
            ""
        } else {
            "utility:pencil@"
        };
        let uri = self
            .fixture
            .server
            .uri(userinfo, &format!("?{}", query.join("&")));
        let cs = ConnectionString::parse(&uri).map_err(|e| format!("{uri}: {e}"))?;
        let observed: Vec<String> = body
            .get_array("observeEvents")
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for event in &observed {
            if ![
                "commandStartedEvent",
                "commandSucceededEvent",
                "commandFailedEvent",
            ]
            .contains(&event.as_str())
            {
                return Err(format!("observing `{event}` is not supported"));
            }
        }
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let mut auth = AuthOptions::default();
        if oidc {
            let token = self.fixture.token_file.display().to_string();
            auth = auth
                .oidc_client(mongodb_auth::oidc::OidcClient::new())
                .with_environment(MapEnvironment::from([("OIDC_TOKEN_FILE", token)]));
        }
        let mut options = ConnectOptions::default()
            .auth_options(auth)
            .observe(move |event| {
                let observed_event = match event {
                    Event::CommandStarted {
                        name,
                        db,
                        document: body,
                        ..
                    } => (
                        "commandStartedEvent",
                        Observed::Started {
                            name: (*name).to_owned(),
                            db: (*db).to_owned(),
                            command: document(body),
                        },
                    ),
                    Event::CommandSucceeded { name, reply, .. } => (
                        "commandSucceededEvent",
                        Observed::Succeeded {
                            name: (*name).to_owned(),
                            reply: document(reply),
                        },
                    ),
                    Event::CommandFailed { name, .. } => (
                        "commandFailedEvent",
                        Observed::Failed {
                            name: (*name).to_owned(),
                        },
                    ),
                    _ => return,
                };
                if observed.iter().any(|o| o == observed_event.0) {
                    sink.lock().unwrap().push(observed_event.1);
                }
            });
        options.connect_timeout = Some(Duration::from_secs(5));
        options.read_timeout = Some(Duration::from_secs(10));
        Ok(Client {
            cs,
            options,
            connection: None,
            events,
        })
    }

    /// `initialData`: each collection dropped, then its documents inserted, by a utility client.
    fn initial_data(&mut self, data: &[Bson]) -> Outcome {
        let mut utility = self.client(&Document::new())?;
        for collection in data {
            let collection = collection
                .as_document()
                .ok_or("initialData holds documents")?;
            let name = collection
                .get_str("collectionName")
                .map_err(|_| "no collectionName")?;
            let db = collection
                .get_str("databaseName")
                .map_err(|_| "no databaseName")?;
            let documents = collection
                .get_array("documents")
                .map_err(|_| "no documents")?;
            utility
                .run(command(db, bson::doc! { "drop": name }))
                .map_err(|e| format!("initialData: drop: {e}"))?;
            if !documents.is_empty() {
                utility
                    .run(command(
                        db,
                        bson::doc! { "insert": name, "documents": documents.clone() },
                    ))
                    .map_err(|e| format!("initialData: insert: {e}"))?;
            }
        }
        Ok(())
    }

    fn run_operations_and_expectations(&mut self, test: &Document) -> Outcome {
        let known = [
            "description",
            "operations",
            "expectEvents",
            "runOnRequirements",
            "skipReason",
        ];
        if let Some(key) = test.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("the test's `{key}` is not supported"));
        }
        for (index, operation) in test
            .get_array("operations")
            .map_err(|_| "no operations")?
            .iter()
            .enumerate()
        {
            let operation = operation
                .as_document()
                .ok_or("an operation that is not a document")?;
            let name = operation.get_str("name").unwrap_or("?");
            self.operation(operation)
                .map_err(|e| format!("operation {index} ({name}): {e}"))?;
        }
        if let Ok(expected) = test.get_array("expectEvents") {
            for expectation in expected {
                self.expect_events(
                    expectation
                        .as_document()
                        .ok_or("expectEvents holds documents")?,
                )?;
            }
        }
        Ok(())
    }

    fn operation(&mut self, operation: &Document) -> Outcome {
        let known = ["name", "object", "arguments", "expectResult", "expectError"];
        if let Some(key) = operation.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("`{key}` is not supported"));
        }
        let name = operation.get_str("name").map_err(|_| "no name")?;
        let object = operation.get_str("object").map_err(|_| "no object")?;
        let empty = Document::new();
        let arguments = operation.get_document("arguments").unwrap_or(&empty);
        let result = match (object, name) {
            ("testRunner", "failPoint") => self.fail_point(arguments).map(|()| Bson::Null),
            (_, "find") => self.find(object, arguments),
            (_, "insertOne") => self.insert_one(object, arguments),
            (_, other) => return Err(format!("the operation `{other}` is not supported")),
        };
        match (result, operation.get_document("expectError")) {
            (Ok(actual), Err(_)) => match operation.get("expectResult") {
                Some(expected) => {
                    matches(expected, &actual, true).map_err(|e| format!("the result: {e}"))
                }
                None => Ok(()),
            },
            (Ok(actual), Ok(_)) => Err(format!("expected an error, got {actual}")),
            (Err(Failure::Runner(reason)), _) => Err(reason),
            (Err(Failure::Operation(error)), Ok(expected)) => expect_error(expected, &error),
            (Err(Failure::Operation(error)), Err(_)) => Err(format!("unexpected error: {error}")),
        }
    }

    fn collection(&mut self, id: &str) -> Result<(&mut Client, String, String), Failure> {
        let Some(Entity::Collection {
            client,
            database,
            name,
        }) = self.entities.get(id)
        else {
            return Err(Failure::Runner(format!("no collection entity `{id}`")));
        };
        let (client, database, name) = (client.clone(), database.clone(), name.clone());
        match self.entities.get_mut(&client) {
            Some(Entity::Client(client)) => Ok((client, database, name)),
            _ => Err(Failure::Runner(format!("no client entity `{client}`"))),
        }
    }

    fn find(&mut self, object: &str, arguments: &Document) -> Result<Bson, Failure> {
        only(arguments, &["filter"])?;
        let filter = arguments
            .get_document("filter")
            .cloned()
            .unwrap_or_default();
        let (client, db, collection) = self.collection(object)?;
        let reply = client
            .run(command(
                &db,
                bson::doc! { "find": collection, "filter": filter },
            ))
            .map_err(Failure::Operation)?;
        let cursor = reply
            .get_document("cursor")
            .map_err(|_| Failure::Runner(format!("a find reply without a cursor: {reply}")))?;
        if cursor.get_i64("id").unwrap_or(0) != 0 {
            return Err(Failure::Runner(
                "a cursor that needs getMore, which is not supported".into(),
            ));
        }
        Ok(Bson::Array(
            cursor.get_array("firstBatch").cloned().unwrap_or_default(),
        ))
    }

    fn insert_one(&mut self, object: &str, arguments: &Document) -> Result<Bson, Failure> {
        only(arguments, &["document"])?;
        let document = arguments
            .get_document("document")
            .map_err(|_| Failure::Runner("insertOne needs a document".into()))?
            .clone();
        let id = document.get("_id").cloned();
        let (client, db, collection) = self.collection(object)?;
        client
            .run(command(
                &db,
                bson::doc! { "insert": collection, "documents": [document] },
            ))
            .map_err(Failure::Operation)?;
        Ok(Bson::Document(match id {
            Some(id) => bson::doc! { "insertedId": id },
            None => Document::new(),
        }))
    }

    /// The test runner's `failPoint`: `configureFailPoint` on `admin` through the named client.
    fn fail_point(&mut self, arguments: &Document) -> Result<(), Failure> {
        only(arguments, &["client", "failPoint"])?;
        let id = arguments
            .get_str("client")
            .map_err(|_| Failure::Runner("failPoint needs a client".into()))?
            .to_owned();
        let fail_point = arguments
            .get_document("failPoint")
            .map_err(|_| Failure::Runner("failPoint needs failPoint".into()))?
            .clone();
        let name = fail_point
            .get_str("configureFailPoint")
            .unwrap_or("")
            .to_owned();
        let Some(Entity::Client(client)) = self.entities.get_mut(&id) else {
            return Err(Failure::Runner(format!("no client entity `{id}`")));
        };
        client
            .run(command("admin", fail_point))
            .map_err(|e| Failure::Runner(format!("configureFailPoint: {e}")))?;
        self.fail_points.push((id, name));
        Ok(())
    }

    fn turn_off_fail_points(&mut self) {
        for (id, name) in std::mem::take(&mut self.fail_points) {
            if let Some(Entity::Client(client)) = self.entities.get_mut(&id) {
                let _ = client.run(command(
                    "admin",
                    bson::doc! { "configureFailPoint": name, "mode": "off" },
                ));
            }
        }
    }

    fn expect_events(&self, expectation: &Document) -> Outcome {
        only_keys(
            expectation,
            &["client", "events", "eventType", "ignoreExtraEvents"],
        )?;
        if expectation
            .get_str("eventType")
            .is_ok_and(|t| t != "command")
        {
            return Err("only command events are supported".into());
        }
        let id = expectation
            .get_str("client")
            .map_err(|_| "expectEvents needs a client")?;
        let Some(Entity::Client(client)) = self.entities.get(id) else {
            return Err(format!("no client entity `{id}`"));
        };
        let observed = client.events.lock().unwrap().clone();
        let expected = expectation
            .get_array("events")
            .map_err(|_| "expectEvents needs events")?;
        let extra_allowed = expectation.get_bool("ignoreExtraEvents").unwrap_or(false);
        if observed.len() < expected.len() || (!extra_allowed && observed.len() != expected.len()) {
            return Err(format!(
                "{id}: {} events observed, {} expected: {observed:?}",
                observed.len(),
                expected.len()
            ));
        }
        for (index, (expected, observed)) in expected.iter().zip(&observed).enumerate() {
            let expected = expected
                .as_document()
                .ok_or("an event that is not a document")?;
            event_matches(expected, observed)
                .map_err(|e| format!("{id}: event {index}: {e} (observed {observed:?})"))?;
        }
        Ok(())
    }
}

/// Why an operation did not give a result: the operation failed (which a test may expect), or
/// the runner cannot run it.
enum Failure {
    Operation(Error),
    Runner(String),
}

fn only(arguments: &Document, allowed: &[&str]) -> Result<(), Failure> {
    only_keys(arguments, allowed).map_err(Failure::Runner)
}

fn only_keys(document: &Document, allowed: &[&str]) -> Outcome {
    match document.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!("`{key}` is not supported")),
        None => Ok(()),
    }
}

fn command(db: &str, body: Document) -> Command {
    Command::new(db, body.to_vec().unwrap_or_default())
}

/// A URI option's value as the connection string spells it.
fn plain(value: &Bson) -> String {
    match value {
        Bson::String(s) => s.clone(),
        Bson::Boolean(b) => b.to_string(),
        Bson::Int32(n) => n.to_string(),
        Bson::Int64(n) => n.to_string(),
        Bson::Double(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn expect_error(expected: &Document, error: &Error) -> Outcome {
    for (key, value) in expected {
        match (key.as_str(), value) {
            ("isError", Bson::Boolean(true)) => {}
            ("isClientError", Bson::Boolean(client)) => {
                let is_client = !matches!(error, Error::Server { .. });
                if is_client != *client {
                    return Err(format!("isClientError {client}, got {error:?}"));
                }
            }
            ("errorCode", code) => {
                let code = numeric(code).ok_or("errorCode is not a number")?;
                match error {
                    Error::Server { code: actual, .. } if f64::from(*actual) == code => {}
                    other => return Err(format!("error code {code}, got {other:?}")),
                }
            }
            (other, _) => return Err(format!("expectError's `{other}` is not supported")),
        }
    }
    Ok(())
}

fn event_matches(expected: &Document, observed: &Observed) -> Outcome {
    let (kind, body) = expected.iter().next().ok_or("an empty event")?;
    let body = body
        .as_document()
        .ok_or("an event that is not a document")?;
    let (name, actual_kind) = match observed {
        Observed::Started { name, .. } => (name, "commandStartedEvent"),
        Observed::Succeeded { name, .. } => (name, "commandSucceededEvent"),
        Observed::Failed { name } => (name, "commandFailedEvent"),
    };
    if kind != actual_kind {
        return Err(format!("expected {kind}, observed {actual_kind}"));
    }
    for (key, value) in body {
        match (key.as_str(), observed) {
            ("commandName", _) => {
                if value.as_str() != Some(name.as_str()) {
                    return Err(format!("commandName {value}, observed {name}"));
                }
            }
            ("command", Observed::Started { command, .. }) => {
                matches(value, &Bson::Document(command.clone()), true)
                    .map_err(|e| format!("command: {e}"))?;
            }
            ("databaseName", Observed::Started { db, .. }) => {
                if value.as_str() != Some(db.as_str()) {
                    return Err(format!("databaseName {value}, observed {db}"));
                }
            }
            ("reply", Observed::Succeeded { reply, .. }) => {
                matches(value, &Bson::Document(reply.clone()), true)
                    .map_err(|e| format!("reply: {e}"))?;
            }
            (other, _) => return Err(format!("the event field `{other}` is not supported")),
        }
    }
    Ok(())
}

fn numeric(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}

/// The unified format's matching: numbers by value, a root-level document may hold more keys
/// than expected (a nested one may not), arrays element by element. Special `$$` operators are
/// not supported and fail the match by name.
fn matches(expected: &Bson, actual: &Bson, root: bool) -> Outcome {
    match (expected, actual) {
        (Bson::Document(expected), _) if expected.keys().any(|k| k.starts_with("$$")) => {
            let operator = expected
                .keys()
                .find(|k| k.starts_with("$$"))
                .cloned()
                .unwrap_or_default();
            Err(format!("the operator `{operator}` is not supported"))
        }
        (Bson::Document(expected), Bson::Document(actual)) => {
            for (key, value) in expected {
                let Some(found) = actual.get(key) else {
                    return Err(format!("`{key}` is missing from {actual}"));
                };
                matches(value, found, false).map_err(|e| format!("{key}: {e}"))?;
            }
            if !root && let Some(extra) = actual.keys().find(|k| !expected.contains_key(*k)) {
                return Err(format!("`{extra}` is not expected in {actual}"));
            }
            Ok(())
        }
        (Bson::Array(expected), Bson::Array(actual)) => {
            if expected.len() != actual.len() {
                return Err(format!(
                    "{} elements expected, {} found",
                    expected.len(),
                    actual.len()
                ));
            }
            for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
                // Documents in an array are root-level, as the format reads a result's.
                matches(e, a, root).map_err(|err| format!("[{index}]: {err}"))?;
            }
            Ok(())
        }
        (e, a) => match (numeric(e), numeric(a)) {
            (Some(e), Some(a)) if e == a => Ok(()),
            (Some(_), _) | (_, Some(_)) => Err(format!("{e} expected, {a} found")),
            _ if e == a => Ok(()),
            _ => Err(format!("{e} expected, {a} found")),
        },
    }
}
