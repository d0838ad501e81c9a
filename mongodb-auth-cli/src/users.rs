//! Users as `serve` takes them: `--user NAME:PASSWORD[:MECH,...]` and `--users-file`.

use zeroize::Zeroizing;

use mongodb_auth::random::SecureRandom;
use mongodb_auth::server::User;
use mongodb_auth::{AuthMechanism, Error, Result, ScramVariant, Secret};

fn invalid_option(option: &str, rule: impl Into<String>) -> Error {
    Error::InvalidOption {
        option: option.to_owned(),
        rule: rule.into(),
    }
}

/// The largest file an option of `serve` names: a users file of many thousands of users, or a
/// key set, is far smaller.
pub(crate) const MAX_OPTION_FILE_SIZE: usize = 16 * 1024 * 1024;

/// The file an option names, read whole if it is at most [`MAX_OPTION_FILE_SIZE`], and wiped
/// when dropped (a users file holds passwords).
pub(crate) fn read_option_file(option: &str, path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>> {
    mongodb_auth_io::answer::read_within(path, MAX_OPTION_FILE_SIZE)
        .map_err(|e| invalid_option(option, format!("cannot read `{}`: {e}", path.display())))
}

/// Parses a user as the `serve` command takes it: `NAME:PASSWORD[:MECH[,MECH...]]`.
///
/// `NAME` may be `db.name` (default database `admin`); it is split at its first raw `.`, and
/// `NAME` and `PASSWORD` are then percent-decoded, so `%2E`, `%3A` and `%2C` put those characters
/// in a name or password. `MECH` is spelled as MongoDB spells it (`SCRAM-SHA-1`,
/// `SCRAM-SHA-256`); the default is both.
pub fn parse_user_spec<R: SecureRandom + ?Sized>(spec: &str, random: &mut R) -> Result<User> {
    let invalid = |rule: &str| invalid_option("--user", rule);
    let mut parts = spec.splitn(3, ':');
    let (Some(raw_name), Some(raw_password)) = (parts.next(), parts.next()) else {
        return Err(invalid("expected NAME:PASSWORD[:MECH[,MECH...]]"));
    };
    let (raw_db, raw_user) = raw_name.split_once('.').unwrap_or(("admin", raw_name));
    let decode = |part: &str| mongodb_auth::uri::decode_component(part).map_err(&invalid);
    let (db, name) = (decode(raw_db)?, decode(raw_user)?);
    let password = Secret::new(decode(raw_password)?);
    if db.is_empty() || name.is_empty() {
        return Err(invalid("the database and the user name must not be empty"));
    }
    let variants = match parts.next() {
        None => vec![ScramVariant::Sha1, ScramVariant::Sha256],
        Some(list) => {
            list.split(',')
                .map(|name| {
                    // The error never repeats the text: with a `:` in the password left unescaped,
                    // the password's end is what reads as the mechanisms.
                    let mechanism: AuthMechanism = name.parse().map_err(|_| {
                        // Every mechanism's name is upper case.
                        match name.to_ascii_uppercase().parse::<AuthMechanism>() {
                            Ok(m) => invalid(&format!("a mechanism is written `{}`", m.as_str())),
                            Err(_) => invalid("unknown mechanism"),
                        }
                    })?;
                    ScramVariant::from_mechanism(mechanism).ok_or_else(|| {
                        invalid("a user holds SCRAM-SHA-1 and/or SCRAM-SHA-256 credentials")
                    })
                })
                .collect::<Result<_>>()?
        }
    };
    User::new(&db, &name, &password, &variants, random)
}

/// What a users file holds: users with passwords, and MONGODB-AWS keys for a local STS.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct UsersFile {
    /// The users of the `NAME:PASSWORD[:MECH,...]` lines.
    pub users: Vec<User>,
    /// The `aws-key ARN=ACCESS_KEY_ID:SECRET` lines, as written after `aws-key ` (they hold a
    /// secret).
    pub aws_keys: Vec<Secret>,
}

/// Parses a users file: one user a line as [`parse_user_spec`] takes it, or `aws-key
/// ARN=ACCESS_KEY_ID:SECRET` for a MONGODB-AWS key; blank lines and lines starting with `#`
/// skipped. Passwords in a file (mode 0600) stay off the command line, where every process on the
/// machine can read them. Errors name the line, never its content.
pub fn parse_users_file<R: SecureRandom + ?Sized>(text: &str, random: &mut R) -> Result<UsersFile> {
    let mut file = UsersFile::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(key) = line.strip_prefix("aws-key ") {
            file.aws_keys.push(Secret::new(key.trim()));
            continue;
        }
        let user = parse_user_spec(line, random).map_err(|e| {
            let rule = match e {
                Error::InvalidOption { rule, .. } => rule,
                other => other.to_string(),
            };
            invalid_option("--users-file", format!("line {}: {rule}", index + 1))
        })?;
        file.users.push(user);
    }
    Ok(file)
}

/// Reads and parses a users file (see [`parse_users_file`]); the text is wiped once parsed.
pub fn read_users_file<R: SecureRandom + ?Sized>(
    path: &std::path::Path,
    random: &mut R,
) -> Result<UsersFile> {
    let bytes = read_option_file("--users-file", path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        invalid_option("--users-file", format!("`{}` is not UTF-8", path.display()))
    })?;
    parse_users_file(text, random)
}

#[cfg(test)]
mod tests {
    use mongodb_auth::random::SystemRandom;

    use super::*;

    #[test]
    fn a_user_spec_is_split_then_decoded() {
        let user = parse_user_spec("app.%E2%85%A8:IV:SCRAM-SHA-256", &mut SystemRandom).unwrap();
        assert_eq!((user.db.as_str(), user.name.as_str()), ("app", "\u{2168}"));
        assert_eq!(user.mechanisms(), ["SCRAM-SHA-256"]);
    }

    #[test]
    fn a_users_file_is_read_up_to_16_mib_and_must_be_utf8() {
        let dir = std::env::temp_dir().join(format!("mongodb-auth-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = |name: &str, bytes: &[u8], length: usize| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(u64::try_from(length).unwrap()).unwrap();
            path
        };
        let rule = |path: &std::path::Path| match read_users_file(path, &mut SystemRandom) {
            Err(Error::InvalidOption { option, rule }) if option == "--users-file" => rule,
            other => panic!(
                "expected a refusal, got {:?}",
                other.map(|file| file.users.len())
            ),
        };
        let users = b"alice:pencil\n";
        let fits = written("fits", users, users.len());
        let file = read_users_file(&fits, &mut SystemRandom).unwrap();
        assert_eq!(file.users.len(), 1);
        // Padded with zeros to one byte over the cap (sparse, so nothing is written).
        let over = written("over", users, MAX_OPTION_FILE_SIZE + 1);
        assert!(
            rule(&over).contains("larger than 16 MiB"),
            "{}",
            rule(&over)
        );
        let latin1 = written("latin1", b"j\xf6rg:pencil\n", 13);
        assert!(rule(&latin1).contains("is not UTF-8"), "{}", rule(&latin1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mechanism_refused_is_never_repeated() {
        let rule = |spec: &str| match parse_user_spec(spec, &mut SystemRandom) {
            Err(Error::InvalidOption { rule, .. }) => rule,
            other => panic!("{spec}: {:?}", other.map(|user| user.name)),
        };
        // A `:` left unescaped in the password: its end reads as the mechanisms.
        assert_eq!(rule("alice:pass:S3CRET"), "unknown mechanism");
        let file = parse_users_file("alice:pass:S3CRET\n", &mut SystemRandom).unwrap_err();
        assert!(!file.to_string().contains("S3CRET"), "{file}");
        assert_eq!(
            rule("alice:pencil:scram-sha-1"),
            "a mechanism is written `SCRAM-SHA-1`"
        );
    }

    #[test]
    fn a_users_file_has_users_and_aws_keys() {
        let file = parse_users_file(
            "# admins\nalice:pencil\n\napp.bob:secret:SCRAM-SHA-256\naws-key arn:aws:iam::1:user/c=AKID:s\n",
            &mut SystemRandom,
        )
        .unwrap();
        assert_eq!((file.users.len(), file.aws_keys.len()), (2, 1));
    }
}
