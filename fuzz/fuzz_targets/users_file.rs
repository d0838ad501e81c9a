//! Arbitrary text as a users file (`serve --users-file`) never panics its reader, and what it
//! reads keeps the file's rules (each true by construction today; checked against regressions):
//! no user without a database, a name and a SCRAM variant, no key whose ARN holds a `=` or whose
//! key ID holds a `:`, no more entries than lines, and every refusal names a line of the file.
//! That a refusal never repeats the line's text is not checked here: `Refused` holds none.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth_server::users_file::{AwsKey, UserSpec, UsersFile, UsersFileError};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    match UsersFile::parse(&text) {
        Ok(file) => {
            let users: Vec<&UserSpec> = file.user_specs().collect();
            assert!(users.len() + file.aws_keys().len() <= lines);
            for user in users {
                assert!(!user.db.is_empty() && !user.name.is_empty());
                assert!(!user.variants.is_empty());
            }
            for key in file.aws_keys() {
                assert!(!key.arn.contains('='));
                assert!(!key.access_key_id.contains(':'));
            }
        }
        Err(UsersFileError::Line { line, .. }) => assert!((1..=lines).contains(&line)),
        Err(other) => panic!("parsing reads no file and derives no key: {other}"),
    }
    // Each line alone, as `--user` and `--aws-key` take one.
    for line in text.lines().take(64) {
        let _ = UserSpec::parse(line);
        let _ = AwsKey::parse(line);
    }
});
