//! The README's "First steps" run as written (the binary under test standing in for the one
//! `cargo build` makes): a newcomer ends with a conversation in the inbox.

use crate::helpers::free_port;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The shell block of the README section `## First steps`.
fn readme_first_steps() -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## First steps\n")
        .nth(1)
        .expect("the README has a First steps section");
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .expect("First steps has a sh block");
    block.split("```").next().unwrap().to_owned()
}

#[test]
fn readme_first_steps_end_with_a_conversation_in_the_inbox() {
    let steps = readme_first_steps();
    assert!(
        steps
            .lines()
            .filter(|l| l.starts_with("switchboard ") || l.contains("$(switchboard "))
            .all(|l| l.contains("switchboard --config switchboard.toml ")),
        "every command names its config:\n{steps}"
    );
    // `cargo build` is what the test harness already did; its binary is put first on PATH. The
    // port is a free one, so the test runs beside anything else listening on 8080.
    let port = free_port();
    let steps = steps
        .lines()
        .filter(|l| !l.starts_with("cargo "))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let script = format!(
        "set -euo pipefail\n\
         trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n\
         {steps}\n"
    );
    let dir = tempfile::TempDir::new().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_switchboard"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a hung run can be ended with the daemon it started.
        .process_group(0)
        .spawn()
        .expect("bash");
    let group = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            panic!("the first steps did not finish within 90 s:\n{script}");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the first steps failed:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("database: sqlite://data/switchboard.db"),
        "agent add names its database: {stderr}"
    );
    assert!(stdout.contains("\"duplicate\":false"), "{stdout}");
    assert!(stdout.contains("\"channel\":\"website\""), "{stdout}");
    assert!(stdout.contains("Carol"), "{stdout}");
    assert!(stdout.contains("\"direction\":\"inbound\""), "{stdout}");
    assert!(
        dir.path().join("data/switchboard.db").is_file(),
        "the database is where the config says"
    );
}
