//! One dashboard snapshot: what `/status`, the metrics and the caches already know, in the
//! shape the page draws, with rates from the difference to the previous snapshot. Nothing
//! here measures anything itself; a figure no metric records is left out, not made up.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Map, Value, json};
use switchyard_rest::BucketLoad;

use super::prom::Samples;

/// How many of the busiest REST buckets a snapshot names.
const BUSIEST: usize = 5;

/// Counters of the previous snapshot, for rates.
struct Previous {
    at: Instant,
    /// Dispatches received, per (bot, shard).
    shard_events: HashMap<(String, u64), u64>,
    /// Sums of the counters whose rates the page shows, by series key.
    counters: BTreeMap<String, f64>,
}

/// Builds snapshots, remembering the last one's counters.
#[derive(Default)]
pub(super) struct Builder {
    previous: Option<Previous>,
}

/// What a snapshot is made from.
pub(super) struct Inputs<'a> {
    /// The `/status` document (with `command`, `version`, `uptime_s`).
    pub status: &'a Value,
    /// The process's metrics.
    pub samples: &'a Samples,
    /// `CacheView::counts` of each bot that keeps a cache.
    pub caches: &'a [Value],
    /// The REST limiter's bucket queues, where this process has a limiter.
    pub buckets: Option<&'a [BucketLoad]>,
    /// The broker's dead letters as last read (`stream::dead_letters`), or null.
    pub dead_letters: &'a Value,
    /// The durable groups as the broker last listed them (`stream::durable_groups`), or null.
    pub broker_groups: &'a Value,
    /// Unix milliseconds now.
    pub now_ms: u64,
}

impl Builder {
    /// The snapshot of `inputs`.
    pub(super) fn build(&mut self, inputs: &Inputs<'_>) -> Value {
        let now = Instant::now();
        let elapsed = self
            .previous
            .as_ref()
            .map(|p| now.duration_since(p.at).as_secs_f64());
        let mut counters = BTreeMap::new();
        let mut shard_events = HashMap::new();
        let samples = inputs.samples;
        let rate = |key: String, value: f64, counters: &mut BTreeMap<String, f64>| {
            counters.insert(key.clone(), value);
            let before = self.previous.as_ref().and_then(|p| p.counters.get(&key));
            per_second(before.copied(), value, elapsed)
        };

        let guilds = guilds_by_shard(inputs.caches);
        let status = inputs.status;
        let pools = status["pools"].as_array().cloned().unwrap_or_default();
        let mut bots = Vec::new();
        let mut queue_depth = 0u64;
        for (i, gw) in list(&status["gateways"]).iter().enumerate() {
            let bot = gw["bot"].as_str().unwrap_or_default().to_owned();
            let node = pools.get(i).and_then(|p| p["node"].as_str());
            let mut shards = Vec::new();
            for s in list(&gw["shards"]) {
                let id = s["id"].as_u64().unwrap_or_default();
                let events = s["events"].as_u64().unwrap_or_default();
                shard_events.insert((bot.clone(), id), events);
                let before = self
                    .previous
                    .as_ref()
                    .and_then(|p| p.shard_events.get(&(bot.clone(), id)));
                let depth = s["queue_depth"].as_u64().unwrap_or_default();
                queue_depth += depth;
                shards.push(json!({
                    "id": id,
                    "state": s["state"],
                    "node": node,
                    "latency_ms": s["latency_ms"],
                    "seq": s["seq"],
                    "guilds": guilds.get(&(bot.clone(), id)),
                    "events_per_s": per_second(before.map(|&b| b as f64), events as f64, elapsed),
                    "queue_depth": depth,
                    "gaps": s["gaps"],
                    "last_close": s["last_close"],
                    "error": s["error"],
                }));
            }
            let total = list(&gw["shards"])
                .first()
                .and_then(|s| s["total"].as_u64());
            bots.push(json!({
                "bot": bot,
                "shard_count": total,
                "here": gw["total"],
                "ready": gw["ready"],
                "identifies_remaining": gw["identifies_remaining"],
                "shards": shards,
            }));
        }

        let mut events_per_s = Map::new();
        for (event, total) in samples.sum_by("switchyard_gateway_events_total", "event") {
            let r = rate(format!("event:{event}"), total, &mut counters);
            events_per_s.insert(event, r.into());
        }

        let mut broker = Map::new();
        let url = status["broker"]["url"].as_str();
        broker.insert("url".into(), url.into());
        broker.insert("backend".into(), url.map(backend_of).into());
        broker.insert("resp".into(), status["broker"]["resp"].clone());
        for (key, name) in [
            ("dropped", "switchyard_broker_dropped_total"),
            ("undeliverable", "switchyard_broker_undeliverable_total"),
            ("zmq_dropped", "switchyard_zmq_dropped_total"),
            ("resp_clients", "switchyard_resp_clients"),
        ] {
            if samples.has(name) {
                broker.insert(key.into(), samples.sum(name).into());
            }
        }
        if samples.has("switchyard_broker_published_total") {
            let total = samples.sum("switchyard_broker_published_total");
            let r = rate("broker:published".into(), total, &mut counters);
            broker.insert("published_per_s".into(), r.into());
        }

        broker.insert("dead_letters".into(), inputs.dead_letters.clone());
        let services = status["services"].as_array().cloned().unwrap_or_default();
        let groups = worker_groups(&services);
        let durable: Vec<&Value> = groups.iter().filter(|g| g["durable"] == true).collect();
        broker.insert("durable_groups".into(), json!(durable));
        broker.insert(
            "groups_on_broker".into(),
            on_broker(inputs.broker_groups, &durable),
        );

        let busiest = inputs.buckets.map(|buckets| {
            let mut rated: Vec<Value> = buckets
                .iter()
                .map(|b| {
                    let key = format!("bucket:{}\u{0}{}", b.route, b.major);
                    let r = rate(key, b.sent as f64, &mut counters);
                    json!({"route": b.route, "major": b.major, "per_s": r,
                           "sent": b.sent, "waiting": b.waiting})
                })
                .collect();
            let load = |v: &Value| (v["per_s"].as_f64().unwrap_or(0.0), v["waiting"].as_u64());
            rated.sort_by(|a, b| {
                let ((ra, wa), (rb, wb)) = (load(a), load(b));
                rb.total_cmp(&ra)
                    .then(wb.cmp(&wa))
                    .then(b["sent"].as_u64().cmp(&a["sent"].as_u64()))
            });
            rated.truncate(BUSIEST);
            rated
        });
        let queued: Option<u64> = inputs.buckets.map(|b| b.iter().map(|b| b.waiting).sum());
        let rest = match samples.has("switchyard_rest_requests_total") || inputs.buckets.is_some() {
            false => Value::Null,
            true => {
                let total = samples.sum("switchyard_rest_requests_total");
                let per_s = rate("rest:all".into(), total, &mut counters);
                let mut routes: Vec<(String, f64)> = samples
                    .sum_by("switchyard_rest_requests_total", "route")
                    .into_iter()
                    .map(|(route, n)| {
                        let r = rate(format!("rest:{route}"), n, &mut counters);
                        (route, r.unwrap_or(0.0))
                    })
                    .collect();
                routes.sort_by(|a, b| b.1.total_cmp(&a.1));
                routes.truncate(5);
                json!({
                    "requests_per_s": per_s,
                    "requests": total,
                    "by_status": samples.sum_by("switchyard_rest_requests_total", "status"),
                    "upstream_429": samples.sum("switchyard_rest_upstream_429_total"),
                    "synthetic_429": samples.sum("switchyard_rest_synthetic_429_total"),
                    "limiters": samples.sum("switchyard_rest_limiters"),
                    "queued": queued,
                    "busiest": routes.into_iter().map(|(route, per_s)| json!({"route": route, "per_s": per_s})).collect::<Vec<_>>(),
                    "busiest_buckets": busiest,
                })
            }
        };

        let snapshot = json!({
            "at_ms": inputs.now_ms,
            "command": status["command"],
            "version": status["version"],
            "uptime_s": status["uptime_s"],
            "bots": bots,
            "pools": pools,
            "events_per_s": events_per_s,
            "queue_depth": queue_depth,
            "broker": broker,
            "services": services,
            "groups": groups,
            "rest": rest,
            "cache": cache_totals(inputs.caches),
            "recent": recent(status),
        });
        self.previous = Some(Previous {
            at: now,
            shard_events,
            counters,
        });
        snapshot
    }
}

/// The broker's own list of durable groups, each with the services that announced it
/// (`announced`: `service/instance`; a keyed group's partitions, `{group}-p{n}`, count as
/// the group).
fn on_broker(read: &Value, announced: &[&Value]) -> Value {
    let mut read = read.clone();
    for g in read["groups"].as_array_mut().into_iter().flatten() {
        let name = g["name"].as_str().unwrap_or_default();
        let base = name
            .rsplit_once("-p")
            .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .map_or(name, |(base, _)| base);
        let members: Vec<Value> = announced
            .iter()
            .filter(|a| a["name"] == name || a["name"] == base)
            .flat_map(|a| list(&a["members"]))
            .cloned()
            .collect();
        g["announced"] = Value::Array(members);
    }
    read
}

/// The worker groups the services announced in IDENTIFY, each with its members
/// (`service/instance`), sorted by name.
fn worker_groups(services: &[Value]) -> Vec<Value> {
    let mut by: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for s in services {
        let member = format!(
            "{}/{}",
            s["name"].as_str().unwrap_or_default(),
            s["instance"].as_str().unwrap_or_default()
        );
        for g in list(&s["groups"]) {
            let field = |k: &str| g[k].as_str().unwrap_or_default().to_owned();
            by.entry((field("name"), field("kind"), field("pattern")))
                .or_default()
                .push(member.clone());
        }
    }
    by.into_iter()
        .map(|((name, kind, pattern), members)| {
            json!({
                "name": name,
                "durable": kind.starts_with("durable"),
                "kind": kind,
                "pattern": pattern,
                "members": members,
            })
        })
        .collect()
}

/// The change per second from `before` to `now` over `elapsed` seconds (none the first
/// time; a counter that went back, as a shard's does when it moves here anew, counts from 0).
fn per_second(before: Option<f64>, now: f64, elapsed: Option<f64>) -> Option<f64> {
    let (before, elapsed) = (before?, elapsed?);
    if elapsed <= 0.0 {
        return None;
    }
    let delta = if now >= before { now - before } else { now };
    Some((delta / elapsed * 10.0).round() / 10.0)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// `embedded`, `redis`, `nats`, … from a broker URL.
fn backend_of(url: &str) -> &str {
    url.split_once("://").map_or(url, |(scheme, _)| scheme)
}

/// Guilds each shard's cache holds, by (bot, shard).
fn guilds_by_shard(caches: &[Value]) -> HashMap<(String, u64), u64> {
    let mut out = HashMap::new();
    for cache in caches {
        let bot = cache["bot"].as_str().unwrap_or_default();
        for s in list(&cache["shards"]) {
            if let (Some(id), Some(g)) = (s["shard"].as_u64(), s["counts"]["guilds"].as_u64()) {
                out.insert((bot.to_owned(), id), g);
            }
        }
    }
    out
}

/// Guilds, members and memory of each bot's cache on this node.
fn cache_totals(caches: &[Value]) -> Vec<Value> {
    caches
        .iter()
        .map(|cache| {
            let sum = |field: &str| -> u64 {
                list(&cache["shards"])
                    .iter()
                    .filter_map(|s| s["counts"][field].as_u64())
                    .sum()
            };
            json!({
                "bot": cache["bot"],
                "guilds": sum("guilds"),
                "members": sum("members"),
                "memory_bytes": sum("memory_bytes"),
            })
        })
        .collect()
}

/// The latest shard state changes and stops, newest first: a shard that left `active`
/// (with the close code that made it), came back, or stopped with an error.
fn recent(status: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for gw in list(&status["gateways"]) {
        for s in list(&gw["shards"]) {
            for change in list(&s["changes"]) {
                let error = match change["state"] == "fatal" {
                    true => s["error"].clone(),
                    false => Value::Null,
                };
                out.push(json!({
                    "at_ms": change["at_ms"],
                    "bot": gw["bot"],
                    "shard": s["id"],
                    "state": change["state"],
                    "close": change["close"],
                    "error": error,
                }));
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c["at_ms"].as_u64().unwrap_or_default()));
    out.truncate(20);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_previous_snapshot() {
        assert_eq!(per_second(None, 10.0, Some(1.0)), None);
        assert_eq!(per_second(Some(10.0), 25.0, Some(2.0)), Some(7.5));
        assert_eq!(per_second(Some(10.0), 4.0, Some(2.0)), Some(2.0), "a reset");
    }

    #[test]
    fn a_snapshot_shows_shards_events_and_changes() {
        let status = |events: u64| {
            json!({
                "command": "run",
                "gateways": [{"bot": "echo", "total": 1, "ready": 1, "shards": [
                    {"id": 0, "total": 2, "state": "active", "events": events, "queue_depth": 3,
                     "changes": [{"at_ms": 5, "state": "resuming", "close": 1006},
                                 {"at_ms": 6, "state": "active", "close": 1006}]}]}],
                "pools": [null],
                "broker": {"url": "redis://127.0.0.1:1"},
            })
        };
        let metrics = |n: u64| {
            Samples::parse(&format!(
                "switchyard_gateway_events_total{{shard=\"0\",event=\"MESSAGE_CREATE\"}} {n}\n"
            ))
        };
        let mut builder = Builder::default();
        let first = builder.build(&Inputs {
            status: &status(10),
            samples: &metrics(10),
            caches: &[],
            buckets: None,
            dead_letters: &Value::Null,
            broker_groups: &Value::Null,
            now_ms: 1,
        });
        assert_eq!(first["bots"][0]["shard_count"], 2);
        assert_eq!(first["bots"][0]["shards"][0]["events_per_s"], Value::Null);
        assert_eq!(first["broker"]["backend"], "redis");
        assert_eq!(first["queue_depth"], 3);
        assert_eq!(first["recent"][0]["state"], "active", "newest first");
        assert_eq!(first["recent"][1]["close"], 1006);
        let second = builder.build(&Inputs {
            status: &status(1_000_000),
            samples: &metrics(1_000_000),
            caches: &[],
            buckets: None,
            dead_letters: &Value::Null,
            broker_groups: &Value::Null,
            now_ms: 2,
        });
        let rate = second["bots"][0]["shards"][0]["events_per_s"].as_f64();
        assert!(rate.is_some_and(|r| r > 0.0), "{second}");
        assert!(
            second["events_per_s"]["MESSAGE_CREATE"]
                .as_f64()
                .is_some_and(|r| r > 0.0)
        );
        assert_eq!(
            second["rest"],
            Value::Null,
            "no REST metrics, no REST figures"
        );
    }

    #[test]
    fn groups_dead_letters_and_buckets_come_from_their_sources() {
        let group =
            |name: &str, kind: &str| json!({"name": name, "pattern": "inbound.>", "kind": kind});
        let status = json!({
            "services": [
                {"name": "echo", "instance": "e1", "groups": [group("workers", "durable")]},
                {"name": "echo", "instance": "e2", "groups": [group("workers", "durable")]},
                {"name": "stats", "instance": "s1", "groups": [group("counters", "queue")]},
                {"name": "plain", "instance": "p1"},
            ],
        });
        let bucket = |major: &str, sent: u64, waiting: u64| BucketLoad {
            route: "POST /channels/{id}/messages".into(),
            major: major.into(),
            sent,
            waiting,
        };
        let dead = json!({"kept": true, "count": 3, "groups": {"workers": 3}});
        let mut builder = Builder::default();
        let samples = Samples::default();
        let first = builder.build(&Inputs {
            status: &status,
            samples: &samples,
            caches: &[],
            buckets: Some(&[bucket("channels/1", 100, 0), bucket("channels/2", 5, 2)]),
            dead_letters: &dead,
            broker_groups: &json!({"kept": true, "groups": [
                {"stream": "s", "name": "workers-p3", "pending": 2, "members": []},
                {"stream": "s", "name": "strangers", "pending": 0, "members": []},
            ]}),
            now_ms: 1,
        });
        let on_broker = &first["broker"]["groups_on_broker"]["groups"];
        // a keyed group's partition is the group; a group nobody announced has no one
        assert_eq!(on_broker[0]["announced"], json!(["echo/e1", "echo/e2"]));
        assert_eq!(on_broker[1]["announced"], json!([]));
        let groups = first["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 2, "{first:#}");
        assert_eq!(groups[1]["name"], "workers");
        assert_eq!(groups[1]["members"], json!(["echo/e1", "echo/e2"]));
        assert_eq!(first["broker"]["durable_groups"], json!([groups[1]]));
        assert_eq!(first["broker"]["dead_letters"]["count"], 3);
        assert_eq!(first["rest"]["queued"], 2);
        // no rate yet: what waits comes first
        assert_eq!(first["rest"]["busiest_buckets"][0]["major"], "channels/2");

        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = builder.build(&Inputs {
            status: &status,
            samples: &samples,
            caches: &[],
            buckets: Some(&[bucket("channels/1", 100, 0), bucket("channels/2", 9, 0)]),
            dead_letters: &dead,
            broker_groups: &Value::Null,
            now_ms: 2,
        });
        let busiest = &second["rest"]["busiest_buckets"];
        assert_eq!(
            busiest[0]["major"], "channels/2",
            "the one that sent since: {second:#}"
        );
        assert!(busiest[0]["per_s"].as_f64().is_some_and(|r| r > 0.0));
        assert_eq!(busiest[1]["per_s"], 0.0, "a busy past is not a busy bucket");
        assert_eq!(second["rest"]["queued"], 0);
    }
}
