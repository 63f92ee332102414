//! `switchyard demo --once` runs the whole system (fake Discord, embedded broker, gateway, echo
//! bot) and exits 0 only when every scripted reply reached the fake's REST API.

use std::process::Command;

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
