//! The standalone face (`switchyard face --cache <admin>`, a process of its own) in front of a
//! `switchyard run` gateway of two shards, on a private Redis (Streams), with raw WebSocket
//! clients, under faults:
//!
//! - a client whose TCP connection is reset mid-stream under load resumes, and what it saw
//!   (by the session's sequence) has no gap and no duplicate and holds exactly the events the
//!   fake dispatched upstream;
//! - the gateway killed with `kill -9` and started again behind the face (it resumes
//!   upstream, the fake replays, the broker drops what it had already), or a node of a pool
//!   of two killed (the other takes its shards over, resuming them; a client identifies
//!   meanwhile, the face reading the cache of the node alive) and started again: the face's
//!   clients stay connected and get every event of the run exactly once;
//! - the face killed (SIGTERM, then `kill -9`) and started again: its clients' RESUME is
//!   refused, they identify again and get READY and every guild from the cache, and Discord
//!   sees no new IDENTIFY;
//! - a client gone silent without a reset resumes on a new connection and gets its events.

mod face_pool;

use std::collections::BTreeMap;

use face_pool::client::{Client, Dispatch, Frame, Resumed};
use face_pool::{SHARDS, Stack};
use serde_json::Value;
use switchyard_sim::{Guild, Inject, LoadSpec, Snowflake, build_mix};

/// One stack at a time: each is four processes and the fake on shared cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What identifies one event of the load: its name and the id it carries, if unique.
type Key = (String, Option<String>);

fn key(t: &str, d: &Value) -> Option<Key> {
    let id = match t {
        "MESSAGE_CREATE" => d["id"].as_str(),
        "MESSAGE_REACTION_ADD" => d["message_id"].as_str(),
        "TYPING_START" | "GUILD_MEMBER_UPDATE" | "VOICE_STATE_UPDATE" => None,
        _ => return None,
    };
    // the markers are not load
    if d["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("marker "))
    {
        return None;
    }
    Some((t.to_owned(), id.map(str::to_owned)))
}

/// The events of the load the fake dispatches to the bot's sessions: the first `n` of its
/// mix (`mix_size = n`, so that every message id is new), but the PRESENCE_UPDATEs that the
/// bot's intents leave out.
struct Expected {
    counts: BTreeMap<Key, u32>,
    total: u64,
}

impl Expected {
    fn of(stack: &Stack, n: usize) -> Expected {
        let seed = stack.sim.config().world.seed;
        let mut counts = BTreeMap::new();
        let mut total = 0;
        for item in build_mix(stack.sim.world(), seed, n) {
            if &*item.name == "PRESENCE_UPDATE" {
                continue;
            }
            let d: Value = serde_json::from_str(&item.d).expect("mix JSON");
            let k = key(&item.name, &d).expect("a load event");
            *counts.entry(k).or_insert(0) += 1;
            total += 1;
        }
        Expected { counts, total }
    }

    /// The client got each event of the load exactly as many times as the fake sent it.
    fn assert_got(&self, client: &Client) {
        let got = load_events(&client.seen);
        let mut wrong: Vec<String> = Vec::new();
        for k in self.counts.keys().chain(got.keys()) {
            let (want, have) = (
                self.counts.get(k).copied().unwrap_or(0),
                got.get(k).copied().unwrap_or(0),
            );
            if want != have {
                wrong.push(format!("{k:?}: sent {want}, got {have}"));
            }
        }
        wrong.dedup();
        assert!(
            wrong.is_empty(),
            "{}: {} events differ from what the fake sent, e.g. {:?}",
            client.name,
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}

fn load_events(seen: &[Dispatch]) -> BTreeMap<Key, u32> {
    let mut counts = BTreeMap::new();
    for d in seen {
        if let Some(k) = key(&d.t, &d.d) {
            *counts.entry(k).or_insert(0) += 1;
        }
    }
    counts
}

/// A condition on what a client saw: `at_least` load events. It counts as the list grows,
/// so that a client reading thousands of events does not count them all again each time.
fn load_seen(at_least: u64) -> impl FnMut(&[Dispatch]) -> bool {
    let (mut counted, mut n) = (0, 0);
    move |seen: &[Dispatch]| {
        let new = seen.get(counted..).unwrap_or_default();
        n += new.iter().filter(|d| key(&d.t, &d.d).is_some()).count() as u64;
        counted = seen.len();
        n >= at_least
    }
}

/// Injects a user message in one guild of each upstream shard, after everything the fake
/// sent so far; returns their contents. A client that saw them has seen all that came
/// before them.
fn markers(stack: &Stack, tag: &str) -> Vec<String> {
    let world = stack.sim.world();
    (0..SHARDS)
        .map(|shard| {
            let guild = world
                .guilds
                .iter()
                .find(|g| Guild::shard(g.id, SHARDS) == shard)
                .expect("a guild on each shard");
            let channel = guild
                .channels
                .iter()
                .find(|c| c.kind == 0)
                .expect("a text channel");
            let content = format!("marker {tag} {shard}");
            stack
                .sim
                .inject(&Inject::Message {
                    channel_id: Snowflake(channel.id),
                    content: content.clone(),
                    author_id: None,
                })
                .expect("inject");
            content
        })
        .collect()
}

fn saw_markers(seen: &[Dispatch], markers: &[String]) -> bool {
    markers.iter().all(|m| {
        seen.iter()
            .any(|d| d.t == "MESSAGE_CREATE" && d.d["content"] == m.as_str())
    })
}

/// Identifies `client` and waits for READY's guilds, which must be the world's.
async fn identified(stack: &Stack, client: &mut Client) {
    let ready = client.identify().await;
    let mut listed: Vec<u64> = ready["guilds"]
        .as_array()
        .expect("READY guilds")
        .iter()
        .map(|g| g["id"].as_str().expect("id").parse().expect("snowflake"))
        .collect();
    listed.sort_unstable();
    let guilds = stack.guilds();
    assert_eq!(listed, guilds, "{}: READY lists every guild", client.name);
    if let Err(why) = client.await_guilds(&guilds).await {
        panic!("{why}\n{}", stack.logs());
    }
}

fn load(n: usize, rate: u64) -> LoadSpec {
    LoadSpec {
        rate,
        duration_ms: 0,
        total: n as u64,
        mix_size: n,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reset_mid_stream_resumes_and_sees_each_event_once() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start(100).await;
    let mut client = stack.client("reset");
    identified(&stack, &mut client).await;

    const N: usize = 3000;
    let expected = Expected::of(&stack, N);
    let before = stack.upstream_dispatched();
    let running = stack.sim.start_load(load(N, 400));
    client.read_until(120, load_seen(expected.total / 3)).await;
    let at_cut = running.produced();
    let seq_at_cut = client.seq;
    client.cut();
    stack
        .until(
            "the fake dispatched more while the client was away",
            60,
            async || running.produced() >= (at_cut + 300).min(N as u64),
        )
        .await;
    assert_eq!(client.resume().await, Resumed::Yes, "{}", stack.logs());
    stack
        .until("the load done", 120, async || running.is_finished())
        .await;
    let done = markers(&stack, "end");
    let resumes = client
        .read_until(120, |seen| saw_markers(seen, &done))
        .await;
    assert_eq!(resumes, 0, "no disconnection but the cut");
    let resumed_at = client
        .seen
        .iter()
        .find(|d| d.t == "RESUMED")
        .map(|d| d.s)
        .expect("RESUMED");
    assert!(
        resumed_at > seq_at_cut + 100,
        "the face replayed what the client missed ({seq_at_cut} .. {resumed_at})"
    );

    assert_eq!(
        stack.upstream_dispatched() - before - u64::from(SHARDS),
        expected.total,
        "the fake dispatched the load (and the markers) upstream"
    );
    client.assert_contiguous();
    expected.assert_got(&client);
    assert_eq!(client.connections, 2);
}

/// What happens to the gateway behind the face.
enum GatewayFault {
    /// The one `switchyard run` is killed and started again on its session store.
    Restart,
    /// A pool node is killed; the other takes its shards over; a client identifies while
    /// it is down; it is started again.
    PoolNodeKilled,
}

/// Two clients read the fake's load through the face while `fault` happens behind it: they
/// stay connected and get every event of the run exactly once, and the bot's shards only
/// ever resume upstream.
async fn through_a_gateway_fault(mut stack: Stack, fault: GatewayFault) {
    let mut clients = [stack.client("first"), stack.client("second")];
    for client in &mut clients {
        identified(&stack, client).await;
    }
    let identifies = stack.upstream_identifies();

    const N: usize = 4000;
    let expected = Expected::of(&stack, N);
    let total = expected.total;
    let running = stack.sim.start_load(load(N, 250));
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let resumes = client.read_until(300, load_seen(total)).await;
                (client, resumes)
            })
        })
        .collect();
    stack
        .until("a third of the load dispatched", 60, async || {
            running.produced() >= N as u64 / 3
        })
        .await;
    stack.gateways[0].kill();
    let at_kill = running.produced();
    stack
        .until(
            "the fake buffered events for the dead gateway",
            60,
            async || running.produced() >= at_kill + 250,
        )
        .await;
    if let GatewayFault::PoolNodeKilled = fault {
        stack
            .until("the other node holding every shard", 60, async || {
                stack.active_on(1).await.len() == SHARDS as usize
            })
            .await;
        // the face reads the cache of the node alive (the dead one is first in its list)
        let mut late = stack.client("late");
        identified(&stack, &mut late).await;
    }
    stack.gateways[0].restart();
    stack
        .until("every shard active again", 60, async || {
            stack.shards_active().await
        })
        .await;
    stack
        .until("the load done", 120, async || running.is_finished())
        .await;
    assert_eq!(
        stack.upstream_identifies(),
        identifies,
        "the bot's shards resumed upstream"
    );
    let counters = stack.sim.counters_summary();
    let replayed: u64 = counters.sessions.iter().map(|s| s.replayed).sum();
    assert!(
        replayed > 0,
        "the fake replayed what the dead gateway missed"
    );
    let mut clients = Vec::new();
    for reader in readers {
        match reader.await {
            Ok(done) => clients.push(done),
            Err(error) => panic!("a client failed: {error}\n{}", stack.logs()),
        }
    }
    let end = markers(&stack, "end");
    for (client, resumes) in &mut clients {
        client.read_until(120, |seen| saw_markers(seen, &end)).await;
        assert_eq!(*resumes, 0, "{}: stayed connected", client.name);
        client.assert_contiguous();
        expected.assert_got(client);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_behind_the_face_costs_its_clients_nothing() {
    let _serial = SERIAL.lock().await;
    // sessions saved seldom: after the kill the fake replays events already published
    let stack = Stack::start(2000).await;
    through_a_gateway_fault(stack, GatewayFault::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_behind_the_face_on_plain_pub_sub_costs_nothing_either() {
    let _serial = SERIAL.lock().await;
    // the broker drops no duplicate: what the fake replays after the kill reaches the face
    // twice, and the face must send it once
    let stack = Stack::start_with(2000, 1, false).await;
    through_a_gateway_fault(stack, GatewayFault::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_node_killed_behind_the_face_costs_its_clients_nothing() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start_with(2000, 2, true).await;
    stack
        .until("the two nodes splitting the shards", 60, async || {
            let (a, b) = (stack.active_on(0).await, stack.active_on(1).await);
            !a.is_empty() && !b.is_empty() && a.is_disjoint(&b)
        })
        .await;
    through_a_gateway_fault(stack, GatewayFault::PoolNodeKilled).await;
}

/// The GUILD_CREATEs of what `client` saw, by guild: the name, channel ids and member
/// count.
fn guild_creates(seen: &[Dispatch]) -> BTreeMap<String, Value> {
    seen.iter()
        .filter(|d| d.t == "GUILD_CREATE")
        .map(|d| {
            let mut channels: Vec<&str> = d.d["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str())
                .collect();
            channels.sort_unstable();
            let members = d.d["members"].as_array().map_or(0, Vec::len);
            let id = d.d["id"].as_str().unwrap_or_default().to_owned();
            (
                id,
                serde_json::json!({"name": d.d["name"], "channels": channels, "members": members}),
            )
        })
        .collect()
}

/// After its face went away: the client's RESUME is refused, it identifies again and gets
/// the same guilds from the cache, and events flow again.
async fn comes_back(
    stack: &Stack,
    client: &mut Client,
    guilds: &BTreeMap<String, Value>,
    tag: &str,
) {
    let old = client.session_id.clone();
    assert_eq!(
        client.resume().await,
        Resumed::Refused,
        "{}: a restarted face cannot know the session",
        client.name
    );
    client.identify_again().await;
    assert_ne!(client.session_id, old);
    if let Err(why) = client.await_guilds(&stack.guilds()).await {
        panic!("{tag}: {why}\n{}", stack.logs());
    }
    assert_eq!(
        &guild_creates(&client.seen),
        guilds,
        "{tag}: the same guilds"
    );
    let flowing = markers(stack, tag);
    let resumes = client
        .read_until(60, |seen| saw_markers(seen, &flowing))
        .await;
    assert_eq!(resumes, 0);
    client.assert_contiguous();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_face_restarted_sends_its_clients_to_identify_from_the_cache() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::start(100).await;
    let mut client = stack.client("returning");
    identified(&stack, &mut client).await;
    let guilds = guild_creates(&client.seen);
    assert_eq!(guilds.len(), stack.guilds().len());
    let identifies = stack.upstream_identifies();

    // SIGTERM: the face tells its clients to reconnect (op 7, then 4000)
    let (_, told) = tokio::join!(stack.face.terminate(), async {
        let mut reconnect = false;
        loop {
            match client.next(std::time::Duration::from_secs(30)).await {
                Some(Frame::Op(7, _)) => reconnect = true,
                Some(Frame::Closed(code)) => return (reconnect, code),
                None => return (reconnect, None),
                Some(_) => {}
            }
        }
    });
    assert_eq!(told, (true, Some(4000)), "op 7 then 4000 on SIGTERM");
    stack.face.restart();
    comes_back(&stack, &mut client, &guilds, "after SIGTERM").await;

    // kill -9: the connection just drops
    stack.face.restart();
    let gone = client.next(std::time::Duration::from_secs(30)).await;
    assert!(
        matches!(gone, Some(Frame::Closed(_))),
        "the connection ends with the face: {gone:?}"
    );
    comes_back(&stack, &mut client, &guilds, "after kill -9").await;

    assert_eq!(
        stack.upstream_identifies(),
        identifies,
        "no IDENTIFY upstream for the face's restarts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_silent_resumes_elsewhere_and_gets_every_event() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start(100).await;
    let mut client = stack.client("silent");
    identified(&stack, &mut client).await;
    let before = markers(&stack, "before");
    client
        .read_until(60, |seen| saw_markers(seen, &before))
        .await;

    // its network goes away without a reset: the face's side of the old connection lingers
    // (until its heartbeats time out) while the client resumes on a new one
    let _old = client.freeze();
    assert_eq!(client.resume().await, Resumed::Yes, "{}", stack.logs());
    for round in 0..3 {
        let after = markers(&stack, &format!("after {round}"));
        let resumes = client
            .read_until(30, |seen| saw_markers(seen, &after))
            .await;
        assert_eq!(resumes, 0);
    }
    client.assert_contiguous();
}
