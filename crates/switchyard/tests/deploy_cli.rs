//! The deployment in `deploy/` cannot rot:
//! - every example config loads and passes `switchyard check-config` (with the secrets its
//!   environment file would add), and a broken one does not;
//! - every systemd unit names a config and an environment file that `deploy/` has, and a
//!   subcommand the binary knows;
//! - the three-node Redis example, started as three `switchyard run` on loopback (the broker
//!   a private redis-server, Discord the fake), spreads the shards over the nodes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use switchyard_sim::{Sim, SimConfig};
use switchyard_testkit::RedisServer;

mod pool_node;
use pool_node::{Node, assert_no_token, until};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// `switchyard check-config` on `config` with only `env` (and PATH) in its environment.
fn check_config(config: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("switchyard check-config runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn example_configs() -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(deploy().join("config"))
        .expect("deploy/config")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    configs
}

#[test]
fn every_example_config_passes_check_config() {
    let configs = example_configs();
    assert!(configs.len() >= 5, "{configs:?}");
    for config in &configs {
        let out = check_config(config, &[("SWITCHYARD_ADMIN_TOKEN", "example-admin-token")]);
        assert!(out.status.success(), "{}: {}", config.display(), text(&out));
        assert!(text(&out).contains("configuration ok"), "{}", text(&out));
    }
}

#[test]
fn check_config_refuses_a_broken_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original =
        std::fs::read_to_string(deploy().join("config/pool-redis.toml")).expect("example");

    // a misspelt key is refused by name
    let broken = dir.path().join("typo.toml");
    std::fs::write(&broken, original.replace("pool_lease_ms", "pool_lease")).expect("write");
    let out = check_config(&broken, &[("SWITCHYARD_ADMIN_TOKEN", "t")]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pool_lease"), "{}", text(&out));

    // the pool example binds its admin listener off loopback: without the token it is refused
    let out = check_config(&deploy().join("config/pool-redis.toml"), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("admin.token"), "{}", text(&out));

    // a pool on the embedded broker is refused as `run` would refuse it
    let embedded = dir.path().join("embedded.toml");
    std::fs::write(
        &embedded,
        original.replace("url = \"redis://10.0.0.10:6379\"", "url = \"embedded\""),
    )
    .expect("write");
    let out = check_config(&embedded, &[("SWITCHYARD_ADMIN_TOKEN", "t")]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("gateway.pool"), "{}", text(&out));
}

/// The value of `key=` lines in a unit.
fn unit_values<'u>(unit: &'u str, key: &str) -> Vec<&'u str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn every_systemd_unit_names_files_and_commands_that_exist() {
    let units: Vec<PathBuf> = std::fs::read_dir(deploy().join("systemd"))
        .expect("deploy/systemd")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    assert_eq!(units.len(), 3, "{units:?}");
    let configs: BTreeSet<String> = example_configs()
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_owned()))
        .collect();
    for unit in &units {
        let body = std::fs::read_to_string(unit).expect("unit");
        for key in ["NoNewPrivileges", "ProtectSystem", "DynamicUser", "Restart"] {
            assert_eq!(unit_values(&body, key).len(), 1, "{key} in {unit:?}");
        }
        assert!(!unit_values(&body, "TimeoutStopSec").is_empty(), "{unit:?}");
        let env = unit_values(&body, "EnvironmentFile");
        let env = env.first().expect("EnvironmentFile");
        let name = env
            .strip_prefix("/etc/switchyard/")
            .expect("in /etc/switchyard");
        assert!(
            deploy().join(format!("systemd/{name}.example")).exists(),
            "{unit:?}: no deploy/systemd/{name}.example"
        );
        let start = unit_values(&body, "ExecStart");
        let words: Vec<&str> = start.first().expect("ExecStart").split(' ').collect();
        let [_, "--config", config, command] = words[..] else {
            panic!("{unit:?}: ExecStart {words:?}");
        };
        let config = config.strip_prefix("/etc/switchyard/").expect("config");
        // switchyard.toml is one of the gateway examples, installed under that name
        assert!(
            config == "switchyard.toml" || configs.contains(config),
            "{unit:?}: {config} is not in deploy/config"
        );
        let help = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([command, "--help"])
            .output()
            .expect("switchyard runs");
        assert!(help.status.success(), "{unit:?}: no subcommand {command}");
    }
}

const SHARDS: u32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_node_redis_example_spreads_the_shards() {
    let redis = RedisServer::start();
    let mut config = SimConfig::fast();
    config.shards = SHARDS;
    config.world.guilds = 12;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let example = deploy().join("config/pool-redis.toml");
    let example = example.to_str().expect("utf-8 path");
    let url = redis.url();
    // What an operator's environment file and a loopback rehearsal change: the broker and
    // the REST limiter's Redis, Discord, and the admin listener (Node binds 127.0.0.1:0).
    let env = [
        ("SWITCHYARD_CONFIG", example),
        ("SWITCHYARD_REST_REDIS", url.as_str()),
    ];
    let nodes: Vec<Node> = ["node-1", "node-2", "node-3"]
        .iter()
        .map(|name| Node::start_with(&sim, &url, dir.path(), name, 500, &env))
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();

    // Every node runs some shards, no shard runs twice, none is missing. (The pool balances
    // by guilds, not by shard count: 3/2/1 shards can be even.)
    until(
        "the shards spreading over the three nodes",
        120,
        &refs,
        async || {
            let mut all = BTreeSet::new();
            for node in &nodes {
                let Some(shards) = node.ready_shards().await else {
                    return false;
                };
                if shards.is_empty() || !shards.is_disjoint(&all) {
                    return false;
                }
                all.extend(shards);
            }
            all == (0..SHARDS).collect()
        },
    )
    .await;
    for node in &nodes {
        let code = reqwest::get(format!("http://{}/ready", node.admin))
            .await
            .map(|r| r.status().as_u16());
        assert_eq!(code.ok(), Some(200), "{}", node.output());
    }
    assert_no_token(&nodes);
}
