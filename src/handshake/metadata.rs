//! The client metadata of a connection's first `hello` (the handshake specification's `client`
//! document): this crate as the driver, the operating system, the platform, the application's
//! name, what libraries that wrap the crate append to them, and where the client runs
//! ([`ClientEnv`]).

use bson::raw::cstr;
use bson::{RawDocumentBuf, rawdoc};

use crate::environment::Environment;
use crate::error::{Error, Result};

/// The longest `client.application.name`, in bytes: the handshake specification's limit, past
/// which a server refuses the handshake.
pub const MAX_APP_NAME_LEN: usize = 128;

/// The largest `client` document of a `hello`, in bytes: the handshake specification's limit,
/// past which mongod refuses the handshake.
pub const MAX_CLIENT_METADATA_LEN: usize = 512;

/// Checks an application name (`appName`) against [`MAX_APP_NAME_LEN`].
///
/// ```
/// use mongodb_auth::handshake::{MAX_APP_NAME_LEN, check_app_name};
///
/// assert!(check_app_name("inventory").is_ok());
/// assert!(check_app_name(&"x".repeat(MAX_APP_NAME_LEN + 1)).is_err());
/// ```
pub fn check_app_name(name: &str) -> Result<()> {
    if name.len() <= MAX_APP_NAME_LEN {
        return Ok(());
    }
    Err(Error::option(
        "appName",
        format!(
            "at most {MAX_APP_NAME_LEN} bytes (the handshake specification's limit; a server \
             refuses a longer one), not {}",
            name.len()
        ),
    ))
}

/// What a library that wraps this crate adds to the client metadata of its connections, so
/// the server's logs name it (the handshake specification's `DriverInfoOptions`): its name,
/// version and platform, each appended, after a `|`, to `client.driver.name`,
/// `client.driver.version` and `client.platform`.
///
/// An empty string is no value, so two infos that would append the same metadata are equal, as
/// the specification compares them.
///
/// ```
/// use mongodb_auth::handshake::DriverInfo;
///
/// let inventory = DriverInfo::new("inventory", Some("2.1"), None)?;
/// assert_eq!(inventory, DriverInfo::new("inventory", Some("2.1"), Some(""))?);
/// assert!(DriverInfo::new("a|b", None, None).is_err());
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DriverInfo {
    name: Option<String>,
    version: Option<String>,
    platform: Option<String>,
}

/// What separates appended values, and so may not be in one.
const SEPARATOR: char = '|';

impl DriverInfo {
    /// The info of the library `name`, of `version` on `platform` (a value left out appends
    /// nothing to its field, as the specification's prose tests have it). Refused
    /// ([`Error::InvalidInput`]): an empty name (each info names its library, so each distinct
    /// info lengthens the metadata, which bounds how many fit), and a value with a `|` in it
    /// (the specification requires it, since `|` separates the values of the libraries that
    /// wrap one another).
    pub fn new(name: &str, version: Option<&str>, platform: Option<&str>) -> Result<DriverInfo> {
        if name.is_empty() {
            return Err(Error::InvalidInput {
                rule: "a driver info needs the name of its library",
            });
        }
        let value = |value: Option<&str>| match value {
            Some(value) if value.contains(SEPARATOR) => Err(Error::InvalidInput {
                rule: "a driver info value may not contain `|`, which separates appended values",
            }),
            Some(value) if !value.is_empty() => Ok(Some(value.to_owned())),
            _ => Ok(None),
        };
        Ok(DriverInfo {
            name: value(Some(name))?,
            version: value(version)?,
            platform: value(platform)?,
        })
    }

    /// The library's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Its version, if given.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Its platform, if given.
    pub fn platform(&self) -> Option<&str> {
        self.platform.as_deref()
    }
}

/// Where the client runs, as the handshake specification's `client.env` describes it: the
/// function-as-a-service platform its variables name, with that platform's region, memory and
/// timeout, and the container it runs in. Found once by [`detect`](Self::detect); what a
/// variable does not say (unset, empty, or not a number where one is expected) is left out, and
/// never an error.
///
/// ```
/// use mongodb_auth::environment::MapEnvironment;
/// use mongodb_auth::handshake::ClientEnv;
///
/// let lambda = MapEnvironment::from([
///     ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
///     ("AWS_REGION", "us-east-2"),
///     ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
/// ]);
/// let env = ClientEnv::detect(&lambda, false);
/// assert_eq!(env.faas_name(), Some("aws.lambda"));
/// assert_eq!((env.region(), env.memory_mb()), (Some("us-east-2"), Some(1024)));
/// assert!(ClientEnv::detect(&MapEnvironment::default(), false).is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientEnv {
    faas: Option<Faas>,
    docker: bool,
    kubernetes: bool,
}

/// A function-as-a-service platform the handshake specification names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Platform {
    AwsLambda,
    AzureFunctions,
    GcpFunctions,
    Vercel,
}

impl Platform {
    /// `client.env.name`.
    fn name(self) -> &'static str {
        match self {
            Platform::AwsLambda => "aws.lambda",
            Platform::AzureFunctions => "azure.func",
            Platform::GcpFunctions => "gcp.func",
            Platform::Vercel => "vercel",
        }
    }

    /// The variable of its region, where it has one.
    fn region_variable(self) -> Option<&'static str> {
        match self {
            Platform::AwsLambda => Some("AWS_REGION"),
            Platform::AzureFunctions => None,
            Platform::GcpFunctions => Some("FUNCTION_REGION"),
            Platform::Vercel => Some("VERCEL_REGION"),
        }
    }

    /// The variable of its functions' memory, in MB, where it has one.
    fn memory_variable(self) -> Option<&'static str> {
        match self {
            Platform::AwsLambda => Some("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            Platform::GcpFunctions => Some("FUNCTION_MEMORY_MB"),
            Platform::AzureFunctions | Platform::Vercel => None,
        }
    }

    /// The variable of its functions' timeout, in seconds, where it has one.
    fn timeout_variable(self) -> Option<&'static str> {
        match self {
            Platform::GcpFunctions => Some("FUNCTION_TIMEOUT_SEC"),
            Platform::AwsLambda | Platform::AzureFunctions | Platform::Vercel => None,
        }
    }
}

/// A function-as-a-service platform and what its variables say of the function.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Faas {
    name: &'static str,
    region: Option<String>,
    memory_mb: Option<i32>,
    timeout_sec: Option<i32>,
}

impl ClientEnv {
    /// The file whose existence says the client runs in a Docker container, which the caller
    /// looks for (the handshake specification: `.dockerenv` in the root directory).
    pub const DOCKERENV: &'static str = "/.dockerenv";

    /// Reads the variables the specification names from `environment`: `AWS_EXECUTION_ENV`
    /// (when it starts with `AWS_Lambda_`) or `AWS_LAMBDA_RUNTIME_API` (`aws.lambda`),
    /// `FUNCTIONS_WORKER_RUNTIME` (`azure.func`), `K_SERVICE` or `FUNCTION_NAME` (`gcp.func`),
    /// `VERCEL` (`vercel`), then the chosen platform's region, memory and timeout, and
    /// `KUBERNETES_SERVICE_HOST`. Two platforms at once name none, except Vercel over AWS Lambda,
    /// as the specification orders. `dockerenv` says whether the file
    /// [`DOCKERENV`](Self::DOCKERENV) exists: the caller looks, since this crate reads no file
    /// itself.
    pub fn detect(environment: &dyn Environment, dockerenv: bool) -> ClientEnv {
        let populated = |name: &str| environment.populated(name);
        let set = |name: &str| populated(name).is_some();
        let lambda = populated("AWS_EXECUTION_ENV")
            .is_some_and(|value| value.starts_with("AWS_Lambda_"))
            || set("AWS_LAMBDA_RUNTIME_API");
        let found = [
            (Platform::AwsLambda, lambda),
            (Platform::AzureFunctions, set("FUNCTIONS_WORKER_RUNTIME")),
            (
                Platform::GcpFunctions,
                set("K_SERVICE") || set("FUNCTION_NAME"),
            ),
            (Platform::Vercel, set("VERCEL")),
        ];
        let mut platforms = found
            .iter()
            .filter(|(_, found)| *found)
            .map(|(platform, _)| *platform);
        let platform = match (platforms.next(), platforms.next(), platforms.next()) {
            (Some(platform), None, _) => Some(platform),
            (Some(Platform::AwsLambda), Some(Platform::Vercel), None) => Some(Platform::Vercel),
            _ => None,
        };
        let number = |name: &str| populated(name)?.parse::<i32>().ok();
        let faas = platform.map(|platform| Faas {
            name: platform.name(),
            region: platform.region_variable().and_then(populated),
            memory_mb: platform.memory_variable().and_then(number),
            timeout_sec: platform.timeout_variable().and_then(number),
        });
        ClientEnv {
            faas,
            docker: dockerenv,
            kubernetes: set("KUBERNETES_SERVICE_HOST"),
        }
    }

    /// Whether nothing was found, so `hello` carries no `client.env`.
    pub fn is_empty(&self) -> bool {
        *self == ClientEnv::default()
    }

    /// `client.env.name`: `aws.lambda`, `azure.func`, `gcp.func` or `vercel`.
    pub fn faas_name(&self) -> Option<&str> {
        self.faas.as_ref().map(|faas| faas.name)
    }

    /// `client.env.region`.
    pub fn region(&self) -> Option<&str> {
        self.faas.as_ref()?.region.as_deref()
    }

    /// `client.env.memory_mb`.
    pub fn memory_mb(&self) -> Option<i32> {
        self.faas.as_ref()?.memory_mb
    }

    /// `client.env.timeout_sec`.
    pub fn timeout_sec(&self) -> Option<i32> {
        self.faas.as_ref()?.timeout_sec
    }

    /// `client.env.container.runtime`: `docker` when `/.dockerenv` exists.
    pub fn container_runtime(&self) -> Option<&str> {
        self.docker.then_some("docker")
    }

    /// `client.env.container.orchestrator`: `kubernetes` when `KUBERNETES_SERVICE_HOST` is set.
    pub fn container_orchestrator(&self) -> Option<&str> {
        self.kubernetes.then_some("kubernetes")
    }

    /// The `env` document, whole or (`name_only`, the specification's first step to fit the
    /// size limit) with its name alone; `None` when it would be empty.
    fn document(&self, name_only: bool) -> Option<RawDocumentBuf> {
        let mut env = RawDocumentBuf::new();
        if let Some(faas) = &self.faas {
            env.append(cstr!("name"), faas.name);
            if !name_only {
                if let Some(timeout) = faas.timeout_sec {
                    env.append(cstr!("timeout_sec"), timeout);
                }
                if let Some(memory) = faas.memory_mb {
                    env.append(cstr!("memory_mb"), memory);
                }
                if let Some(region) = &faas.region {
                    env.append(cstr!("region"), region.as_str());
                }
            }
        }
        if !name_only && (self.docker || self.kubernetes) {
            let mut container = RawDocumentBuf::new();
            if let Some(runtime) = self.container_runtime() {
                container.append(cstr!("runtime"), runtime);
            }
            if let Some(orchestrator) = self.container_orchestrator() {
                container.append(cstr!("orchestrator"), orchestrator);
            }
            env.append(cstr!("container"), container);
        }
        (!env.is_empty()).then_some(env)
    }
}

/// How much of the `env` document a `client` document carries, from all of it to none: the
/// specification's order of what to leave out to fit the size limit.
#[derive(Clone, Copy)]
enum EnvPart {
    Whole,
    NameOnly,
    Left,
}

/// The `client` document: this crate as the driver, the operating system (type and
/// architecture), the platform, `env` (where the client runs), `app_name`, and the values of
/// `wrappers` appended in order, an info equal to one before it once only (the specification:
/// duplicates append nothing). Past [`MAX_CLIENT_METADATA_LEN`] bytes it leaves out, in the
/// specification's order and each step on top of the last, the fields of `env` but its name,
/// the operating system's architecture, `env` whole, and then cuts the platform short; a
/// document that does not fit even with the platform cut to nothing is refused.
pub(crate) fn client_metadata(
    app_name: Option<&str>,
    wrappers: &[DriverInfo],
    env: Option<&ClientEnv>,
) -> Result<RawDocumentBuf> {
    if let Some(name) = app_name {
        check_app_name(name)?;
    }
    let distinct: Vec<&DriverInfo> = wrappers
        .iter()
        .enumerate()
        .filter(|(at, info)| !wrappers.iter().take(*at).any(|earlier| earlier == *info))
        .map(|(_, info)| info)
        .collect();
    let appended = |own: &str, value: fn(&DriverInfo) -> Option<&str>| {
        distinct
            .iter()
            .filter_map(|info| value(info))
            .fold(own.to_owned(), |mut text, value| {
                text.push(SEPARATOR);
                text.push_str(value);
                text
            })
    };
    let name = appended("mongodb-auth", DriverInfo::name);
    let version = appended(env!("CARGO_PKG_VERSION"), DriverInfo::version);
    let mut platform = appended("Rust", DriverInfo::platform);
    let build = |env_part: EnvPart, architecture: bool, platform: &str| {
        let mut client = RawDocumentBuf::new();
        if let Some(name) = app_name {
            client.append(cstr!("application"), rawdoc! { "name": name });
        }
        client.append(
            cstr!("driver"),
            rawdoc! { "name": name.as_str(), "version": version.as_str() },
        );
        let mut os = rawdoc! { "type": std::env::consts::OS };
        if architecture {
            os.append(cstr!("architecture"), std::env::consts::ARCH);
        }
        client.append(cstr!("os"), os);
        client.append(cstr!("platform"), platform);
        let env = match env_part {
            EnvPart::Whole => env.and_then(|env| env.document(false)),
            EnvPart::NameOnly => env.and_then(|env| env.document(true)),
            EnvPart::Left => None,
        };
        if let Some(env) = env {
            client.append(cstr!("env"), env);
        }
        client
    };
    let fits = |client: &RawDocumentBuf| client.as_bytes().len() <= MAX_CLIENT_METADATA_LEN;
    let steps = [
        (EnvPart::Whole, true),
        (EnvPart::NameOnly, true),
        (EnvPart::NameOnly, false),
        (EnvPart::Left, false),
    ];
    for (env_part, architecture) in steps {
        let client = build(env_part, architecture, &platform);
        if fits(&client) {
            return Ok(client);
        }
    }
    let excess = build(EnvPart::Left, false, &platform)
        .as_bytes()
        .len()
        .saturating_sub(MAX_CLIENT_METADATA_LEN);
    if excess <= platform.len() {
        let mut keep = platform.len() - excess;
        while !platform.is_char_boundary(keep) {
            keep -= 1;
        }
        platform.truncate(keep);
        return Ok(build(EnvPart::Left, false, &platform));
    }
    Err(Error::InvalidInput {
        rule: "the client metadata is larger than 512 bytes even with the platform cut to \
               nothing: the application name and the names and versions of the libraries that \
               wrap the driver are too long",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library() -> DriverInfo {
        DriverInfo::new("library", Some("1.2"), Some("Library Platform")).unwrap()
    }

    fn field<'a>(client: &'a RawDocumentBuf, path: [&str; 2]) -> Option<&'a str> {
        match path {
            [top, ""] => client.get_str(top).ok(),
            [top, inner] => client.get_document(top).ok()?.get_str(inner).ok(),
        }
    }

    /// The handshake specification's wrapping libraries: each value appended after a `|`, a
    /// missing one leaving its field as it was; an empty string is no value; a duplicate appends
    /// nothing; `|`, and an info without a name, are refused.
    #[test]
    fn wrapping_libraries_append_their_values() {
        let version = env!("CARGO_PKG_VERSION");
        let framework = DriverInfo::new("framework", None, Some("Framework Platform")).unwrap();
        let client = client_metadata(Some("app"), &[library(), framework], None).unwrap();
        assert_eq!(
            field(&client, ["driver", "name"]),
            Some("mongodb-auth|library|framework")
        );
        let appended_version = format!("{version}|1.2");
        assert_eq!(
            field(&client, ["driver", "version"]),
            Some(appended_version.as_str())
        );
        assert_eq!(
            field(&client, ["platform", ""]),
            Some("Rust|Library Platform|Framework Platform")
        );
        assert_eq!(field(&client, ["application", "name"]), Some("app"));
        assert_eq!(
            field(&client, ["os", "architecture"]),
            Some(std::env::consts::ARCH)
        );

        let unset = DriverInfo::new("library", Some(""), Some("")).unwrap();
        assert_eq!(unset, DriverInfo::new("library", None, None).unwrap());
        assert_eq!((unset.version(), unset.platform()), (None, None));
        // An info equal to one before it appends nothing (here the third).
        let twice = client_metadata(None, &[library(), unset.clone(), library()], None).unwrap();
        assert_eq!(
            field(&twice, ["driver", "name"]),
            Some("mongodb-auth|library|library")
        );
        assert_eq!(
            field(&twice, ["platform", ""]),
            Some("Rust|Library Platform")
        );
        let bad_infos = [
            ("a|b", None, None),
            ("a", Some("1|2"), None),
            ("a", None, Some("|")),
            ("", Some("1.2"), None),
        ];
        for bad in bad_infos {
            let error = DriverInfo::new(bad.0, bad.1, bad.2).unwrap_err();
            assert!(
                matches!(error, Error::InvalidInput { .. }),
                "{bad:?}: {error:?}"
            );
        }
    }

    /// Past 512 bytes, with no `env`, the architecture goes first, then the platform is cut
    /// short (on a character's boundary) to fit within a character of the limit; names and
    /// versions too long for any platform are refused. The longest application name fits with
    /// no wrapper.
    #[test]
    fn metadata_past_the_limit_loses_the_architecture_then_the_platform() {
        let longest = "é".repeat(MAX_APP_NAME_LEN / 2);
        let plain = client_metadata(Some(&longest), &[], None).unwrap();
        assert!(plain.as_bytes().len() <= MAX_CLIENT_METADATA_LEN);
        let too_long = format!("{longest}x");
        let error = client_metadata(Some(&too_long), &[], None).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidOption { option, .. } if option == "appName"),
            "{error:?}"
        );

        let size = |client: &RawDocumentBuf| client.as_bytes().len();
        // Wrappers whose platforms grow two bytes at a time, from fitting whole to far too long.
        let (mut whole_without_architecture, mut cut) = (0, 0);
        for characters in 1..400 {
            let platform = "é".repeat(characters);
            let wrapper = DriverInfo::new("w", None, Some(&platform)).unwrap();
            let client = client_metadata(Some(&longest), &[wrapper], None).unwrap();
            assert!(size(&client) <= MAX_CLIENT_METADATA_LEN, "{characters}");
            let full = format!("Rust|{platform}");
            let kept = field(&client, ["platform", ""]).unwrap();
            assert!(full.starts_with(kept), "{characters}: {kept}");
            let architecture = field(&client, ["os", "architecture"]);
            assert_eq!(field(&client, ["os", "type"]), Some(std::env::consts::OS));
            match (architecture, kept == full) {
                (Some(_), true) => {}
                (Some(_), false) => panic!("{characters}: cut with the architecture kept"),
                (None, true) => whole_without_architecture += 1,
                (None, false) => {
                    cut += 1;
                    // Cut to fit, within a character of the limit.
                    assert!(size(&client) >= MAX_CLIENT_METADATA_LEN - 1, "{characters}");
                }
            }
        }
        assert!(whole_without_architecture > 0 && cut > 0);
        // Names alone too long: refused, whatever the platform.
        let long_name = DriverInfo::new(&"n".repeat(400), None, None).unwrap();
        let error = client_metadata(Some(&longest), &[long_name], None).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    }

    /// The handshake specification's prose test 1, "environment metadata is properly
    /// captured", case by case, and the rules around it: which variable names which platform,
    /// which fields each platform takes, a wrong type or an empty value left out, two platforms
    /// naming none unless they are Vercel and AWS Lambda.
    #[test]
    fn the_environment_names_the_platform_and_the_container() {
        use crate::environment::MapEnvironment;
        let lambda = [
            ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
            ("AWS_REGION", "us-east-2"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ];
        let long_region = "a".repeat(512);
        fn faas(env: &ClientEnv) -> (Option<&str>, Option<&str>, Option<i32>, Option<i32>) {
            (
                env.faas_name(),
                env.region(),
                env.memory_mb(),
                env.timeout_sec(),
            )
        }
        let cases: Vec<(&str, Vec<(&str, &str)>, _)> = vec![
            (
                "valid AWS",
                lambda.to_vec(),
                (Some("aws.lambda"), Some("us-east-2"), Some(1024), None),
            ),
            (
                "valid Azure",
                vec![("FUNCTIONS_WORKER_RUNTIME", "node")],
                (Some("azure.func"), None, None, None),
            ),
            (
                "valid GCP",
                vec![
                    ("K_SERVICE", "servicename"),
                    ("FUNCTION_MEMORY_MB", "1024"),
                    ("FUNCTION_TIMEOUT_SEC", "60"),
                    ("FUNCTION_REGION", "us-central1"),
                ],
                (Some("gcp.func"), Some("us-central1"), Some(1024), Some(60)),
            ),
            (
                "valid Vercel",
                vec![("VERCEL", "1"), ("VERCEL_REGION", "cdg1")],
                (Some("vercel"), Some("cdg1"), None, None),
            ),
            (
                "multiple providers",
                vec![
                    ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
                    ("FUNCTIONS_WORKER_RUNTIME", "node"),
                ],
                (None, None, None, None),
            ),
            (
                "long string",
                vec![
                    ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
                    ("AWS_REGION", long_region.as_str()),
                ],
                (Some("aws.lambda"), Some(long_region.as_str()), None, None),
            ),
            (
                "wrong types",
                vec![
                    ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
                    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "big"),
                ],
                (Some("aws.lambda"), None, None, None),
            ),
            (
                "not a Lambda",
                vec![("AWS_EXECUTION_ENV", "EC2")],
                (None, None, None, None),
            ),
            (
                "the Lambda runtime API",
                vec![("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")],
                (Some("aws.lambda"), None, None, None),
            ),
            (
                "a GCP function name, numbers past int32",
                vec![
                    ("FUNCTION_NAME", "f"),
                    ("FUNCTION_TIMEOUT_SEC", "9e9"),
                    ("FUNCTION_MEMORY_MB", "4294967296"),
                ],
                (Some("gcp.func"), None, None, None),
            ),
            (
                "Vercel and GCP",
                vec![("VERCEL", "1"), ("K_SERVICE", "s")],
                (None, None, None, None),
            ),
            (
                "Vercel over AWS Lambda",
                vec![
                    ("AWS_LAMBDA_RUNTIME_API", "x"),
                    ("AWS_REGION", "us-east-2"),
                    ("VERCEL", "1"),
                ],
                (Some("vercel"), None, None, None),
            ),
            (
                "Vercel, AWS Lambda and Azure",
                vec![
                    ("AWS_LAMBDA_RUNTIME_API", "x"),
                    ("VERCEL", "1"),
                    ("FUNCTIONS_WORKER_RUNTIME", "node"),
                ],
                (None, None, None, None),
            ),
            (
                "empty values",
                vec![
                    ("VERCEL", ""),
                    ("AWS_LAMBDA_RUNTIME_API", ""),
                    ("K_SERVICE", "s"),
                ],
                (Some("gcp.func"), None, None, None),
            ),
        ];
        for (case, variables, expected) in cases {
            let env = ClientEnv::detect(&MapEnvironment::from_iter(variables), false);
            assert_eq!(faas(&env), expected, "{case}");
            assert_eq!(
                (env.container_runtime(), env.container_orchestrator()),
                (None, None),
                "{case}"
            );
            assert_eq!(env.is_empty(), expected.0.is_none(), "{case}");
        }
        // Prose case 9: a container and a platform, both kept.
        let mut variables = lambda.to_vec();
        variables.push(("KUBERNETES_SERVICE_HOST", "1"));
        let env = ClientEnv::detect(&MapEnvironment::from_iter(variables), true);
        assert_eq!(
            faas(&env),
            (Some("aws.lambda"), Some("us-east-2"), Some(1024), None)
        );
        assert_eq!(
            (env.container_runtime(), env.container_orchestrator()),
            (Some("docker"), Some("kubernetes"))
        );
        let client = client_metadata(None, &[], Some(&env)).unwrap();
        let expected = rawdoc! {
            "name": "aws.lambda",
            "memory_mb": 1024,
            "region": "us-east-2",
            "container": { "runtime": "docker", "orchestrator": "kubernetes" },
        };
        assert_eq!(client.get_document("env").unwrap(), &*expected);
        // A container alone.
        let docker = ClientEnv::detect(&MapEnvironment::default(), true);
        let client = client_metadata(None, &[], Some(&docker)).unwrap();
        let expected = rawdoc! { "container": { "runtime": "docker" } };
        assert_eq!(client.get_document("env").unwrap(), &*expected);
        // Nothing found: no `env` at all.
        let nothing = ClientEnv::detect(&MapEnvironment::default(), false);
        let client = client_metadata(None, &[], Some(&nothing)).unwrap();
        assert!(client.get("env").unwrap().is_none());
    }

    /// Past 512 bytes the specification's order, each step on top of the last: `env`'s fields
    /// but its name, then the architecture, then `env` whole, then the platform cut short.
    /// Grown two bytes at a time, the document passes through every step in that order, and
    /// always fits.
    #[test]
    fn metadata_past_the_limit_drops_in_the_specifications_order() {
        use crate::environment::MapEnvironment;
        let region = "r".repeat(100);
        let variables = [
            ("AWS_LAMBDA_RUNTIME_API", "x"),
            ("AWS_REGION", region.as_str()),
            ("KUBERNETES_SERVICE_HOST", "k"),
        ];
        let env = ClientEnv::detect(&MapEnvironment::from(variables), true);
        let name_only = rawdoc! { "name": "aws.lambda" };
        let mut stages = Vec::new();
        for characters in 1..300 {
            let platform = "é".repeat(characters);
            let wrapper = DriverInfo::new("w", None, Some(&platform)).unwrap();
            let client = client_metadata(None, &[wrapper], Some(&env)).unwrap();
            assert!(
                client.as_bytes().len() <= MAX_CLIENT_METADATA_LEN,
                "{characters}"
            );
            let sent_env = client.get_document("env").ok();
            let whole_env = sent_env.is_some_and(|env| env.get("region").unwrap().is_some());
            let architecture = field(&client, ["os", "architecture"]).is_some();
            let whole_platform =
                field(&client, ["platform", ""]) == Some(&format!("Rust|{platform}"));
            let stage = match (whole_env, sent_env, architecture, whole_platform) {
                (true, _, true, true) => 0,
                (false, Some(sent), true, true) if sent == &*name_only => 1,
                (false, Some(sent), false, true) if sent == &*name_only => 2,
                (false, None, false, true) => 3,
                (false, None, false, false) => 4,
                other => panic!("{characters}: out of order: {other:?}"),
            };
            if stages.last() != Some(&stage) {
                stages.push(stage);
            }
        }
        assert_eq!(stages, [0, 1, 2, 3, 4]);
    }
}
