//! The `footprint` binary as a process of its own, as an operator runs it: started with the
//! environment the test chooses, it says on its first line where it listens; the test may kill
//! it (SIGKILL) at any moment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, body};

/// How long the binary may take to start listening: far beyond what it takes, so only a broken
/// server reaches it.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
}

impl Server {
    /// SIGKILL, then the process is reaped: nothing of it runs afterwards.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `footprint serve` on `data_dir` with a clean environment: a random port, the test
/// admin, consent granted by default, then `env` (which may override any of these).
pub fn start_binary(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    start_binary_logging(data_dir, env, Stdio::null())
}

/// `start_binary`, its log (standard error) going to `stderr`.
pub fn start_binary_logging(data_dir: &Path, env: &[(&str, &str)], stderr: Stdio) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_footprint"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("FOOTPRINT_DATA_DIR", data_dir)
        .env("FOOTPRINT_ADMIN_USERNAME", ADMIN)
        .env("FOOTPRINT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("FOOTPRINT_CONSENT_DEFAULT", "grant")
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(stderr).spawn().expect("start footprint");
    let stdout = child.stdout.take().expect("stdout");
    // The first line says where it listens; a server that never says so fails the test.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let Ok(line) = receiver.recv_timeout(STARTUP_DEADLINE) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("footprint did not say where it listens within {STARTUP_DEADLINE:?}");
    };
    let Some(address) = line.trim().strip_prefix("footprint listening on ").map(str::to_owned) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unexpected first line: {line:?}");
    };
    Server { child, address }
}

/// How long a command (`footprint import`, …) may take: far beyond what it takes.
const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// Runs `footprint ARGS` on `data_dir` with the environment `start_binary` gives a server, to
/// its end; answers its standard output. A failure or a command past the deadline fails the test.
pub fn run_command(data_dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_footprint"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FOOTPRINT_DATA_DIR", data_dir)
        .env("FOOTPRINT_CONSENT_DEFAULT", "grant")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start footprint");
    // Read on threads, so that a full pipe cannot stall the command.
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for footprint") {
            break status;
        }
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("footprint {args:?} did not end within {COMMAND_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    assert!(status.success(), "footprint {args:?}: {status}\n{stderr}");
    stdout
}

/// Logs in on the server at `address` and returns the access token.
pub async fn login(client: &reqwest::Client, address: &str, username: &str, password: &str) -> String {
    let response = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK, "login of {username} on {address}");
    body(response).await["access_token"].as_str().unwrap().to_owned()
}
