//! Arbitrary text as an AWS credentials or config file never panics the reader, nor the
//! splitting of a `credential_process` line (both platforms' rules), and the credential chain
//! run over it (as both files) never panics either.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mongodb_auth::ask::Ask;
use mongodb_auth::aws::{ChainStep, CredentialChain};
use mongodb_auth::fuzzing::{AwsIni as Ini, aws_config_profiles, split_posix, split_windows};
use mongodb_auth::environment::MapEnvironment;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = split_posix(&text);
    let _ = split_windows(&text);
    let _ = aws_config_profiles(&text);
    if let Ok(ini) = Ini::parse(&text) {
        for section in ini.section_names() {
            let _ = ini.get(section, "aws_access_key_id");
        }
    }
    let env = MapEnvironment::from([("HOME", "/fuzz"), ("AWS_EC2_METADATA_DISABLED", "true")]);
    let mut chain = CredentialChain::new(Arc::new(env));
    let Ok(mut step) = chain.step() else { return };
    // Bounded: a chain asks a handful of times.
    for _ in 0..16 {
        let answer = match step {
            ChainStep::Ask(Ask::ReadFile(file)) => file.answer(Some(data.to_vec().into())),
            ChainStep::Ask(ask) => ask.fail("fuzz"),
            _ => return,
        };
        match chain.answer(answer) {
            Ok(next) => step = next,
            Err(_) => return,
        }
    }
});
