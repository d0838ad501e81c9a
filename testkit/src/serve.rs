//! `mongodb-auth serve` as a child process, for the tests that drive the command.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// A running `mongodb-auth serve`, killed on drop.
pub struct Serve {
    child: Child,
    /// `HOST:PORT`, from the first line the command prints.
    pub address: String,
}

impl Serve {
    /// Starts `bin serve` (`bin` is the command, `env!("CARGO_BIN_EXE_mongodb-auth")` in the
    /// command's tests) with `--user` for each of `users`, on a free loopback port.
    pub fn start(bin: &str, users: &[&str]) -> Serve {
        let args: Vec<&str> = users.iter().flat_map(|user| ["--user", user]).collect();
        Serve::start_with(bin, &args)
    }

    /// Starts the server with these arguments after `serve`, on a free loopback port.
    pub fn start_with(bin: &str, args: &[&str]) -> Serve {
        Serve::start_with_env(bin, args, &[])
    }

    /// [`start_with`](Self::start_with), with these environment variables set.
    pub fn start_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut command = Command::new(bin);
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        command.args(args);
        command.envs(env.iter().copied());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let address = first_line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .to_owned();
        Serve { child, address }
    }

    /// Stops the server and returns its auth log (stderr).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        log
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
