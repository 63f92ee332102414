//! A `switchyard run` on the embedded broker against the fake Discord, for the dashboard
//! tests: free ports chosen by the process itself, read back from what it prints.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use switchyard_sim::SimHandle;
use switchyard_testkit::Proc;

/// The running process and where it listens.
pub struct Run {
    pub proc: Proc,
    /// The admin listener, `127.0.0.1:PORT`.
    pub admin: String,
    /// The embedded broker's RESP port, `127.0.0.1:PORT`.
    pub resp: String,
}

/// Starts `switchyard run` with a cache (so that the dashboard has guilds to show) and `env`.
pub async fn start(sim: &SimHandle, dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("DISCORD_TOKEN", "dashboard-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join("sessions"))
        .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "60")
        .env("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }")
        .env("SWITCHYARD_BROKER_RESP_PORT", "0")
        .env("SWITCHYARD_ADMIN_BIND", "127.0.0.1:0")
        .envs(env.iter().copied());
    let proc = Proc::spawn("run", cmd, dir);
    proc.wait_for("admin on http://").await;
    let out = proc.output();
    let after = |mark: &str| {
        let at = out
            .find(mark)
            .unwrap_or_else(|| panic!("no {mark:?} in:\n{out}"))
            + mark.len();
        let rest = &out[at..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ')' || c == ',')
            .unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let (admin, resp) = (after("admin on http://"), after("(RESP on redis://"));
    Run { proc, admin, resp }
}
