//! `switchyard soak` as CI runs it: a short chaos soak on each durable broker (a private
//! redis-server with Streams, a private nats-server with JetStream) with every kind of fault,
//! which must end with nothing lost and every gap explained. RELIABILITY.md records the long
//! runs made by hand with the same command.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

#[test]
fn a_short_soak_loses_nothing_on_either_broker() {
    let out = Command::new(BIN)
        .args([
            "soak",
            "--seconds",
            "40",
            "--rate",
            "200",
            "--fault-every-ms",
            "1500",
        ])
        .args(["--seed", "2023"])
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run switchyard soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the soak failed:\n{stdout}\n{stderr}");
    for kind in ["redis", "nats"] {
        let lost = stdout
            .lines()
            .find(|l| l.starts_with(kind) && l.contains(" events in "))
            .unwrap_or_else(|| panic!("no {kind} tally in:\n{stdout}"));
        assert!(lost.ends_with("lost 0"), "{lost}");
        // seed 2023 schedules both kills and a broker restart among its first eight faults
        let faults = stdout
            .lines()
            .find(|l| l.starts_with(kind) && l.contains(" faults: "))
            .unwrap_or_else(|| panic!("no {kind} faults in:\n{stdout}"));
        for wanted in ["kill -9", "broker killed"] {
            assert!(faults.contains(wanted), "{faults}");
        }
    }
    assert!(stdout.contains("soak: PASS"), "{stdout}");
}
