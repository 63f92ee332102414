//! `switchyard soak` as CI runs it: a short chaos soak on each durable broker (a private
//! redis-server with Streams, a private nats-server with JetStream) with every kind of fault,
//! which must end with nothing lost and every gap explained; and one interrupted, which must
//! stop everything it started. RELIABILITY.md records the long runs made by hand with the
//! same command.

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

/// The live processes whose parent is `parent`, from /proc.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid …": the fields after the command's closing parenthesis
            let mut fields = stat
                .rsplit_once(')')
                .map(|(_, r)| r)
                .unwrap_or("")
                .split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
            state != Some("Z") && ppid == Some(parent)
        })
        .collect()
}

/// Whether `pid` is still a live process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// SIGTERM (as Ctrl-C) in the middle of a soak: it exits 130, and nothing it started (the
/// broker, the nodes, the consumers) is left running.
#[test]
fn an_interrupted_soak_stops_everything_it_started() {
    let mut soak = Command::new(BIN)
        .args(["soak", "--seconds", "600", "--only", "redis", "--seed", "1"])
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start switchyard soak");
    let pid = soak.id();
    // its broker, three nodes and three consumers
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let started = loop {
        let now = children(pid);
        if now.len() >= 7 || std::time::Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(started.len() >= 7, "the soak started only {started:?}");
    // into its faults (any moment would do), then what runs at the signal
    std::thread::sleep(std::time::Duration::from_secs(3));
    let started = children(pid);
    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = soak.wait().expect("the soak exits");
    let mut out = String::new();
    if let Some(mut stdout) = soak.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut out).expect("its output");
    }
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("switchyard-soak-{pid}")));
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("interrupted"), "{out}");
    let left: Vec<u32> = started.into_iter().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "still running after the soak stopped: {left:?}"
    );
}
