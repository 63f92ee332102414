//! `switchyard demo --once` runs the whole system (fake Discord, embedded broker, gateway, echo
//! bot) and exits 0 only when every scripted reply reached the fake's REST API; without
//! `--once` it then takes lines typed as a Discord user and shows the bot's answers.

use std::io::Write as _;
use std::process::{Command, Stdio};

#[test]
fn demo_once_exits_zero_with_every_reply() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["demo", "--once", "--admin", "127.0.0.1:0"])
        .env_remove("DISCORD_TOKEN")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("3/3 replies arrived"), "{stdout}");
    assert!(stdout.contains("echo: ping"), "{stdout}");
    assert!(
        !stdout.contains("demo-token") && !stderr.contains("demo-token"),
        "the token is never printed or logged"
    );
}

#[test]
fn demo_answers_what_the_user_types_and_ends_at_end_of_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["demo", "--admin", "127.0.0.1:0"])
        .env_remove("DISCORD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hello from a user\n\n").expect("typed");
    drop(stdin); // Ctrl-D
    let out = child.wait_with_output().expect("exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("Type a message as a Discord user"),
        "{stdout}"
    );
    assert!(stdout.contains("echo: hello from a user"), "{stdout}");
}

#[test]
fn run_without_a_token_names_the_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run"])
        .env_remove("DISCORD_TOKEN")
        .env_remove("SWITCHYARD_GATEWAY_TOKEN")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DISCORD_TOKEN"), "{stderr}");
}
