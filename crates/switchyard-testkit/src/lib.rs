//! Test helpers shared by the workspace's integration tests.
//!
//! - [`free_port`]: a loopback port nobody is listening on.
//! - [`RedisServer`] and [`NatsServer`]: a private `redis-server` / `nats-server -js` on a
//!   free port with its data in a temporary directory, stopped on drop. A watchdog stops it
//!   too if the test process dies, so servers never outlive their tests. They never touch the
//!   shared servers on 6379 and 4222.
//! - [`NatsCluster`]: three clustered `nats-server -js` (routes, clustered JetStream), one
//!   of which a test can kill or restart.
//! - [`IrcServer`] and [`IrcClient`]: a private `ngircd` with a generated configuration, and
//!   a line-level client playing a person on it.
//! - [`require_binary`]: the path of a program, or a failure that names it and how to
//!   install it. Tests never pass silently because a binary is missing.
//! - [`python_with`] and [`node_with`]: the Python and the Node that drive third-party clients
//!   (redis-py, discord.py, hikari, discord.js), checked to have the packages a test needs;
//!   [`run_client`] runs one client script to its end.

mod clients;
mod irc;
mod nats_cluster;
mod process;
mod server;

pub use clients::{node_with, python, python_with, run_client};
pub use irc::{IRC_WAIT, IrcClient, IrcServer, Ngircd};
pub use nats_cluster::{NATS_CLUSTER_SIZE, NatsCluster};
pub use process::Proc;
pub use server::{Kind, Nats, NatsServer, Redis, RedisServer, Server};

use std::net::TcpListener;
use std::path::PathBuf;

/// A free TCP port on 127.0.0.1 (bound, read and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 must work on a test machine")
}

/// The path of `name` on `PATH`. Panics with a message naming the binary and the Debian
/// package that provides it (`.ci/run` installs them).
pub fn require_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/local/sbin".into()]) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    let package = match name {
        "redis-server" | "redis-cli" | "redis-benchmark" => "redis-server (or redis-tools)",
        "nats-server" => "nats-server",
        "chromedriver" => "chromium-driver",
        other => other,
    };
    panic!(
        "this test needs `{name}`, which is not on PATH; install it with `apt-get install {package}` (.ci/run does this)"
    );
}
