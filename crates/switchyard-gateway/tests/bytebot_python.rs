//! The Bytebot profile with a Python subscriber written the way Bytebot's docs show: redis-py,
//! PSUBSCRIBE `inbound.discord.*`, reply with a JSON string on the outbound topic, through the
//! embedded broker's RESP port. Python comes from SWITCHYARD_PYTHON, else the repository's
//! `.venv/bin/python` (which has redis-py).

mod common;

use std::process::Stdio;

use common::{WAIT, env};
use switchyard_broker::embedded::resp::{RespConfig, RespServer};
use switchyard_sim::SimConfig;
use switchyard_testkit::python_with;
use tokio::io::{AsyncBufReadExt as _, BufReader};

const SUBSCRIBER: &str = r#"
import json, sys
import redis

r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
p = r.pubsub()
p.psubscribe("inbound.discord.*")
for message in p.listen():
    if message["type"] == "psubscribe":
        print("ready", flush=True)
        continue
    if message["type"] != "pmessage":
        continue
    topic = message["channel"].decode()
    data = json.loads(message["data"])
    reply = topic.replace("inbound", "outbound", 1)
    r.publish(reply, json.dumps("you said: " + data["content"]))
    print("replied", data["content"], flush=True)
    break
"#;

#[tokio::test]
async fn a_bytebot_style_python_subscriber_works_unchanged() {
    let env = env(SimConfig::fast()).await;
    let resp = RespServer::bind(&env.broker, RespConfig::on_port(0))
        .await
        .expect("RESP")
        .spawn();
    let mut config = env.config();
    config.profile = switchyard_gateway::Profile::Bytebot;
    let gw = env.start(config).await;
    let mut child = tokio::process::Command::new(python_with(&["redis"]))
        .arg("-c")
        .arg(SUBSCRIBER)
        .arg(resp.local_addr().port().to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(WAIT, lines.next_line()).await;
    assert!(
        matches!(&ready, Ok(Ok(Some(l))) if l == "ready"),
        "python subscriber: {ready:?}"
    );
    let ch = env.channel(0);
    env.say(ch, "hello from discord");
    let posted = env.wait_posted(ch, 1).await;
    assert_eq!(posted[0]["content"], "you said: hello from discord");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("python exits")
        .expect("status");
    assert!(status.success());
    gw.shutdown().await;
    resp.shutdown().await;
}
