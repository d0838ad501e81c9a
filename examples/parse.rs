//! Parses the connection string given on the command line and prints what it configures,
//! secrets redacted.
//!
//! ```text
//! cargo run --example parse -- 'mongodb://alice:pencil@localhost/?authMechanism=SCRAM-SHA-256'
//! ```

use std::process::ExitCode;

use mongodb_auth::ConnectionString;

fn main() -> ExitCode {
    let Some(uri) = std::env::args().nth(1) else {
        eprintln!("usage: parse <connection string>");
        return ExitCode::from(2);
    };
    match ConnectionString::parse(&uri) {
        Ok(cs) => {
            println!("connection string: {cs}");
            println!(
                "hosts: {:?}",
                cs.hosts()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
            println!("credential: {:#?}", cs.credential());
            println!("tls: {}", cs.tls_enabled());
            for warning in cs.warnings() {
                println!("warning: {warning}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
