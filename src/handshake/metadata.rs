//! The client metadata of a connection's first `hello` (the handshake specification's `client`
//! document): this crate as the driver, the operating system, the platform, the application's
//! name, and what libraries that wrap the crate append to them.

use bson::raw::cstr;
use bson::{RawDocumentBuf, rawdoc};

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

/// The `client` document: this crate as the driver, the operating system (type and
/// architecture), the platform, `app_name`, and the values of `wrappers` appended in order, an
/// info equal to one before it once only (the specification: duplicates append nothing).
/// Past [`MAX_CLIENT_METADATA_LEN`] bytes, the operating system's architecture is left out and
/// then the platform cut short, as the specification orders; a document that does not fit
/// even with the platform cut to nothing is refused.
pub(crate) fn client_metadata(
    app_name: Option<&str>,
    wrappers: &[DriverInfo],
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
    let build = |architecture: bool, platform: &str| {
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
        client
    };
    let full = build(true, &platform);
    if full.as_bytes().len() <= MAX_CLIENT_METADATA_LEN {
        return Ok(full);
    }
    let without_architecture = build(false, &platform);
    let excess = without_architecture
        .as_bytes()
        .len()
        .saturating_sub(MAX_CLIENT_METADATA_LEN);
    if excess == 0 {
        return Ok(without_architecture);
    }
    if excess <= platform.len() {
        let mut keep = platform.len() - excess;
        while !platform.is_char_boundary(keep) {
            keep -= 1;
        }
        platform.truncate(keep);
        return Ok(build(false, &platform));
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
        let client = client_metadata(Some("app"), &[library(), framework]).unwrap();
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
        let twice = client_metadata(None, &[library(), unset.clone(), library()]).unwrap();
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

    /// Past 512 bytes the architecture goes first, then the platform is cut short (on a
    /// character's boundary) to fit within a character of the limit; names and versions too
    /// long for any platform are refused. The longest application name fits with no wrapper.
    #[test]
    fn metadata_past_the_limit_loses_the_architecture_then_the_platform() {
        let longest = "é".repeat(MAX_APP_NAME_LEN / 2);
        let plain = client_metadata(Some(&longest), &[]).unwrap();
        assert!(plain.as_bytes().len() <= MAX_CLIENT_METADATA_LEN);
        let too_long = format!("{longest}x");
        let error = client_metadata(Some(&too_long), &[]).unwrap_err();
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
            let client = client_metadata(Some(&longest), &[wrapper]).unwrap();
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
        let error = client_metadata(Some(&longest), &[long_name]).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    }
}
