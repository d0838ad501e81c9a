//! Ways to make the embedded server misbehave, for tests of clients only: each one breaks a
//! promise a real server keeps. Fenced off here, as rustls fences its `danger` module.
//!
//! [`FailCommand`] is mongod's `failCommand` fail point: the same rule whether a test arms it
//! in process ([`DangerousSessionConfig::misbehave`](super::DangerousSessionConfig::misbehave))
//! or a client sends `configureFailPoint` to a server with test commands enabled.
//!
//! ```
//! use std::time::Duration;
//! use mongodb_auth::server::danger::{FailCommand, Misbehavior};
//!
//! // The next `ping`, on whichever connection, gets ReauthenticationRequired.
//! let once = Misbehavior::FailCommand(FailCommand::new(["ping"], 391).times(1));
//! // Every `find` of the application `probe` waits a second, then its connection is closed.
//! let closing = FailCommand::close_connection(["find"])
//!     .app_name("probe")
//!     .block_for(Duration::from_secs(1))
//!     .always_on();
//! # let _ = (once, closing);
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bson::{RawBsonRef, RawDocument};

/// Ways the server can be told to misbehave, to test that clients notice.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehavior {
    /// Send a wrong SCRAM server signature (`v=`) after accepting the client's proof: a client
    /// must fail mutual authentication.
    WrongServerSignature,
    /// Answer chosen commands with a chosen error, or close the connection, as mongod's
    /// `failCommand` fail point does.
    FailCommand(FailCommand),
}

/// Which commands fail, how, how many times: the `data` and `mode` of mongod's `failCommand`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailCommand {
    commands: Vec<String>,
    code: Option<i32>,
    close_connection: bool,
    error_labels: Vec<String>,
    app_name: Option<String>,
    block: Option<Duration>,
    /// `None`: always on.
    times: Option<u32>,
    /// Matching commands let through before it fires (`mode: {skip: n}`, then always on).
    skip: u32,
}

/// The longest `blockTimeMS` the server honours: a fail point cannot hold a connection longer.
pub const MAX_BLOCK: Duration = Duration::from_secs(60);

impl FailCommand {
    /// Every command named in `commands` is answered with error `code`, until
    /// [`times`](Self::times) runs out (default: once).
    pub fn new<S: Into<String>>(commands: impl IntoIterator<Item = S>, code: i32) -> Self {
        FailCommand {
            code: Some(code),
            ..FailCommand::matching(commands)
        }
    }

    /// Every command named in `commands` closes its connection instead of being answered.
    pub fn close_connection<S: Into<String>>(commands: impl IntoIterator<Item = S>) -> Self {
        FailCommand {
            close_connection: true,
            ..FailCommand::matching(commands)
        }
    }

    /// Every command named in `commands` is answered (or run) after `time`, at most
    /// [`MAX_BLOCK`] (`blockConnection` alone), until [`times`](Self::times) runs out
    /// (default: once).
    pub fn hold<S: Into<String>>(commands: impl IntoIterator<Item = S>, time: Duration) -> Self {
        FailCommand::matching(commands).block_for(time)
    }

    fn matching<S: Into<String>>(commands: impl IntoIterator<Item = S>) -> Self {
        FailCommand {
            commands: commands.into_iter().map(Into::into).collect(),
            code: None,
            close_connection: false,
            error_labels: Vec::new(),
            app_name: None,
            block: None,
            times: Some(1),
            skip: 0,
        }
    }

    /// How many failures in all, across every connection of the server.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Fails every matching command until turned off.
    pub fn always_on(mut self) -> Self {
        self.times = None;
        self
    }

    /// Lets the first `skip` matching commands through, then fails every one until turned off
    /// (mongod's `mode: {skip: n}`).
    pub fn skip(mut self, skip: u32) -> Self {
        self.times = None;
        self.skip = skip;
        self
    }

    /// Only for connections whose `hello` named this application (`client.application.name`).
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = Some(name.into());
        self
    }

    /// The labels the error reply carries (`errorLabels`).
    pub fn error_labels<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.error_labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Holds the reply this long first (`blockConnection`, `blockTimeMS`), at most
    /// [`MAX_BLOCK`].
    pub fn block_for(mut self, duration: Duration) -> Self {
        self.block = Some(duration.min(MAX_BLOCK));
        self
    }

    /// Reads a `configureFailPoint: "failCommand"` command: the rule it arms, or `None` for
    /// `mode: "off"`; why not, for a command this server cannot honour (another fail point, a
    /// mode or a field it does not know), so that a test never runs without what it asked for.
    pub fn from_configure_command(
        command: &RawDocument,
    ) -> std::result::Result<Option<FailCommand>, FailPointRefusal> {
        use FailPointRefusal as Refused;
        match command.get("configureFailPoint") {
            Ok(Some(RawBsonRef::String("failCommand"))) => {}
            Ok(Some(RawBsonRef::String(other))) => {
                return Err(Refused::FailPoint(other.to_owned()));
            }
            _ => return Err(Refused::NoFailPoint),
        }
        // `(times, skip)`: at most `times` failures, after `skip` matching commands.
        let (times, skip) = match command.get("mode") {
            Ok(Some(RawBsonRef::String("off"))) => return Ok(None),
            Ok(Some(RawBsonRef::String("alwaysOn"))) => (None, 0),
            Ok(Some(RawBsonRef::Document(mode))) => {
                let mut mode = mode.into_iter();
                // One of them: mongod would read `times` and ignore the rest, which a test
                // that sends both cannot have meant.
                let (Some(element), None) = (mode.next(), mode.next()) else {
                    return Err(Refused::Mode(None));
                };
                let (key, value) = element.map_err(|_| Refused::Malformed)?;
                match (key.as_str(), count(value)) {
                    ("times", Some(n)) => (Some(n), 0),
                    ("skip", Some(n)) => (None, n),
                    _ => return Err(Refused::Mode(Some(key.as_str().to_owned()))),
                }
            }
            _ => return Err(Refused::Mode(None)),
        };
        let Ok(Some(RawBsonRef::Document(data))) = command.get("data") else {
            return Err(Refused::NoData);
        };
        let mut rule = FailCommand::matching(Vec::<String>::new());
        rule.times = times;
        rule.skip = skip;
        let mut block_connection = false;
        let mut block_time = None;
        for element in data {
            let (key, value) = element.map_err(|_| Refused::Malformed)?;
            match (key.as_str(), value) {
                ("failCommands", RawBsonRef::Array(commands)) => {
                    for command in commands {
                        match command.map_err(|_| Refused::Malformed)? {
                            RawBsonRef::String(name) => rule.commands.push(name.to_owned()),
                            _ => return Err(Refused::Value("failCommands holds command names")),
                        }
                    }
                }
                ("errorCode", value) => {
                    let code = count(value).and_then(|n| i32::try_from(n).ok());
                    let number = Refused::Value("errorCode must be a non-negative number");
                    rule.code = Some(code.ok_or(number)?);
                }
                ("closeConnection", RawBsonRef::Boolean(close)) => rule.close_connection = close,
                ("appName", RawBsonRef::String(name)) => rule.app_name = Some(name.to_owned()),
                ("errorLabels", RawBsonRef::Array(labels)) => {
                    for label in labels {
                        match label.map_err(|_| Refused::Malformed)? {
                            RawBsonRef::String(label) => rule.error_labels.push(label.to_owned()),
                            _ => return Err(Refused::Value("errorLabels holds strings")),
                        }
                    }
                }
                ("blockConnection", RawBsonRef::Boolean(block)) => block_connection = block,
                ("blockTimeMS", value) => {
                    let number = Refused::Value("blockTimeMS must be a non-negative number");
                    block_time = Some(count(value).ok_or(number)?);
                }
                // Drivers' tests set it for mongos; this server runs no internal commands.
                ("failInternalCommands", RawBsonRef::Boolean(_)) => {}
                (other, _) => {
                    return Err(match other {
                        "failCommands" => Refused::Value("failCommands holds command names"),
                        "errorLabels" => Refused::Value("errorLabels holds strings"),
                        "closeConnection" | "blockConnection" | "failInternalCommands" => {
                            Refused::Value(
                                "closeConnection, blockConnection and failInternalCommands are \
                                 booleans",
                            )
                        }
                        "appName" => Refused::Value("appName is a string"),
                        _ => Refused::Field(other.to_owned()),
                    });
                }
            }
        }
        if rule.commands.is_empty() {
            return Err(Refused::NoCommands);
        }
        if block_connection {
            let millis = block_time.ok_or(Refused::NoBlockTime)?;
            rule = rule.block_for(Duration::from_millis(u64::from(millis)));
        }
        if rule.code.is_none() && !rule.close_connection && rule.block.is_none() {
            return Err(Refused::NoEffect);
        }
        Ok(Some(rule))
    }
}

/// Why a `configureFailPoint` command is refused: each names what this server cannot honour,
/// so that a test never runs without the failure it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailPointRefusal {
    /// It names no fail point (`configureFailPoint` is missing or not a string).
    NoFailPoint,
    /// It names a fail point other than `failCommand` (named).
    FailPoint(String),
    /// Its `mode` is not `alwaysOn`, `off`, `{times: N}` or `{skip: N}`; the key of a mode
    /// document this server does not know, if that was what was wrong.
    Mode(Option<String>),
    /// `failCommand` without `data`.
    NoData,
    /// A field of `data` this server does not know (named).
    Field(String),
    /// A field of `data` whose value breaks its rule (which this says).
    Value(&'static str),
    /// `data` names no command to fail.
    NoCommands,
    /// `blockConnection` without `blockTimeMS`.
    NoBlockTime,
    /// `data` has no `errorCode`, `closeConnection` or `blockConnection`: nothing would fail.
    NoEffect,
    /// An element of the command is not valid BSON.
    Malformed,
}

impl std::fmt::Display for FailPointRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailPointRefusal::NoFailPoint => {
                f.write_str("configureFailPoint needs the fail point's name")
            }
            FailPointRefusal::FailPoint(other) => {
                write!(
                    f,
                    "the fail point `{other}` is not supported: only failCommand"
                )
            }
            FailPointRefusal::Mode(Some(key)) => write!(
                f,
                "the mode `{key}` is not supported: alwaysOn, off, {{times: N}} or {{skip: N}}"
            ),
            FailPointRefusal::Mode(None) => {
                f.write_str("mode must be alwaysOn, off, {times: N} or {skip: N}")
            }
            FailPointRefusal::NoData => f.write_str("failCommand needs `data`"),
            FailPointRefusal::Field(field) => {
                write!(f, "failCommand's `{field}` is not supported here")
            }
            FailPointRefusal::Value(rule) => f.write_str(rule),
            FailPointRefusal::NoCommands => f.write_str("failCommand needs failCommands"),
            FailPointRefusal::NoBlockTime => f.write_str("blockConnection needs blockTimeMS"),
            FailPointRefusal::NoEffect => {
                f.write_str("failCommand needs errorCode, closeConnection or blockConnection")
            }
            FailPointRefusal::Malformed => f.write_str("the command is not valid BSON"),
        }
    }
}

impl std::error::Error for FailPointRefusal {}

/// A non-negative count of a BSON number.
fn count(value: RawBsonRef<'_>) -> Option<u32> {
    crate::command::whole_number(value).and_then(|n| u32::try_from(n).ok())
}

/// What a fail point does to the command it fires on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fired {
    /// The error to answer with, and its name.
    pub(crate) error: Option<(i32, &'static str)>,
    pub(crate) labels: Vec<String>,
    pub(crate) close_connection: bool,
    pub(crate) block: Option<Duration>,
}

/// A [`FailCommand`] as a running server counts it down.
#[derive(Debug)]
pub(crate) struct ArmedFailPoint {
    rule: FailCommand,
    remaining: Option<AtomicU32>,
    to_skip: AtomicU32,
    fired: AtomicU32,
}

impl ArmedFailPoint {
    pub(crate) fn new(rule: FailCommand) -> Self {
        let remaining = rule.times.map(AtomicU32::new);
        let to_skip = AtomicU32::new(rule.skip);
        ArmedFailPoint {
            rule,
            remaining,
            to_skip,
            fired: AtomicU32::new(0),
        }
    }

    /// How many times it fired (what it adds to mongod's `count` once replaced).
    pub(crate) fn times_fired(&self) -> u32 {
        self.fired.load(Ordering::Acquire)
    }

    /// What to do to `command` of a connection of application `app_name`, if it is to fail now.
    pub(crate) fn fire(&self, command: &str, app_name: Option<&str>) -> Option<Fired> {
        // mongod never fails the command that configures fail points.
        if command == "configureFailPoint"
            || !self.rule.commands.iter().any(|c| same_command(c, command))
        {
            return None;
        }
        if let Some(wanted) = &self.rule.app_name
            && app_name != Some(wanted.as_str())
        {
            return None;
        }
        let take_one = |n: u32| n.checked_sub(1);
        if self
            .to_skip
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, take_one)
            .is_ok()
        {
            return None;
        }
        if let Some(remaining) = &self.remaining {
            remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, take_one)
                .ok()?;
        }
        self.fired
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1))
            .ok();
        Some(Fired {
            error: self.rule.code.map(|code| (code, code_name(code))),
            labels: self.rule.error_labels.clone(),
            close_connection: self.rule.close_connection,
            block: self.rule.block,
        })
    }
}

/// Whether two command names are one command, as mongod matches a fail point's
/// `failCommands`: by the command's name or an alias of it.
fn same_command(a: &str, b: &str) -> bool {
    command_named(a) == command_named(b)
}

/// The command a name runs: its own name for an alias (`ismaster` for `isMaster`, which drivers
/// send; `buildinfo` for `buildInfo`), as mongod's commands have them. `hello` is a command of
/// its own.
pub(crate) fn command_named(name: &str) -> &str {
    match name {
        "ismaster" => "isMaster",
        "buildinfo" => "buildInfo",
        name => name,
    }
}

/// The code names of the errors tests ask for most; others go without one.
fn code_name(code: i32) -> &'static str {
    match code {
        2 => "BadValue",
        6 => "HostUnreachable",
        7 => "HostNotFound",
        11 => "UserNotFound",
        13 => "Unauthorized",
        18 => "AuthenticationFailed",
        20 => "IllegalOperation",
        59 => "CommandNotFound",
        89 => "NetworkTimeout",
        91 => "ShutdownInProgress",
        189 => "PrimarySteppedDown",
        262 => "ExceededTimeLimit",
        391 => "ReauthenticationRequired",
        10107 => "NotWritablePrimary",
        11600 => "InterruptedAtShutdown",
        11602 => "InterruptedDueToReplStateChange",
        13435 => "NotPrimaryNoSecondaryOk",
        13436 => "NotPrimaryOrSecondary",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::rawdoc;

    fn fires(armed: &ArmedFailPoint, command: &str) -> Option<Option<i32>> {
        armed
            .fire(command, None)
            .map(|fired| fired.error.map(|(code, _)| code))
    }

    #[test]
    fn fires_the_given_number_of_times_for_the_named_commands() {
        let armed = ArmedFailPoint::new(FailCommand::new(["find", "ping"], 391).times(2));
        assert_eq!(fires(&armed, "hello"), None);
        assert_eq!(fires(&armed, "ping"), Some(Some(391)));
        assert_eq!(fires(&armed, "find"), Some(Some(391)));
        assert_eq!(fires(&armed, "ping"), None);
    }

    #[test]
    fn always_on_fires_until_replaced_and_app_name_chooses_connections() {
        let armed = ArmedFailPoint::new(FailCommand::new(["find"], 18).always_on().app_name("a"));
        for _ in 0..5 {
            assert!(armed.fire("find", Some("a")).is_some());
        }
        assert_eq!(armed.fire("find", Some("b")), None);
        assert_eq!(armed.fire("find", None), None);
        let never = ArmedFailPoint::new(FailCommand::new(["configureFailPoint"], 18).always_on());
        assert_eq!(never.fire("configureFailPoint", None), None);
    }

    #[test]
    fn configure_fail_point_reads_what_mongod_takes_and_refuses_the_rest() {
        let rule = FailCommand::from_configure_command(&rawdoc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 2 },
            "data": {
                "failCommands": ["find", "insert"],
                "errorCode": 391,
                "errorLabels": ["RetryableWriteError"],
                "appName": "app",
                "blockConnection": true,
                "blockTimeMS": 150,
                "failInternalCommands": true,
            },
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            rule,
            FailCommand::new(["find", "insert"], 391)
                .times(2)
                .error_labels(["RetryableWriteError"])
                .app_name("app")
                .block_for(Duration::from_millis(150))
        );
        let closing = FailCommand::from_configure_command(&rawdoc! {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": { "failCommands": ["saslContinue"], "closeConnection": true },
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            closing,
            FailCommand::close_connection(["saslContinue"]).always_on()
        );
        let skipping = FailCommand::from_configure_command(&rawdoc! {
            "configureFailPoint": "failCommand",
            "mode": { "skip": 3 },
            "data": { "failCommands": ["hello"], "closeConnection": true },
        });
        assert_eq!(
            skipping,
            Ok(Some(FailCommand::close_connection(["hello"]).skip(3)))
        );
        let off = FailCommand::from_configure_command(&rawdoc! {
            "configureFailPoint": "failCommand", "mode": "off",
        });
        assert_eq!(off, Ok(None));
        use FailPointRefusal as Refused;
        for (refused, why) in [
            (
                rawdoc! { "configureFailPoint": "maxTimeAlwaysTimeOut", "mode": "alwaysOn" },
                Refused::FailPoint("maxTimeAlwaysTimeOut".into()),
            ),
            (rawdoc! { "mode": "alwaysOn" }, Refused::NoFailPoint),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": { "activationProbability": 0.5 }, "data": { "failCommands": ["find"], "errorCode": 1 } },
                Refused::Mode(Some("activationProbability".into())),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": { "times": 1, "skip": 1 }, "data": { "failCommands": ["find"], "errorCode": 1 } },
                Refused::Mode(None),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "sometimes" },
                Refused::Mode(None),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn" },
                Refused::NoData,
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": ["find"], "errorCode": 1, "writeConcernError": { "code": 91 } } },
                Refused::Field("writeConcernError".into()),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": ["find"], "errorCode": "one" } },
                Refused::Value("errorCode must be a non-negative number"),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": [1] , "errorCode": 1 } },
                Refused::Value("failCommands holds command names"),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": "find", "errorCode": 1 } },
                Refused::Value("failCommands holds command names"),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": ["find"], "closeConnection": 1 } },
                Refused::Value(
                    "closeConnection, blockConnection and failInternalCommands are booleans",
                ),
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": ["find"] } },
                Refused::NoEffect,
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "failCommands": ["find"], "blockConnection": true } },
                Refused::NoBlockTime,
            ),
            (
                rawdoc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": { "errorCode": 1 } },
                Refused::NoCommands,
            ),
        ] {
            assert_eq!(
                FailCommand::from_configure_command(&refused),
                Err(why),
                "{refused:?}"
            );
        }
    }
}
