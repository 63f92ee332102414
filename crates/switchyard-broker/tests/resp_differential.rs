//! Differential tests: the same raw RESP byte sequences go to a private real `redis-server`
//! and to the embedded broker's RESP listener, and the replies are compared byte for byte.
//!
//! Where replies legitimately differ, the comparison says so: HELLO's `version` and `id` and
//! CLIENT ID are masked (different servers, different counters); pushes of one message to
//! several patterns are compared as a multiset, since Redis's pattern dictionary has no
//! defined order; so are the replies of a bare (P)UNSUBSCRIBE of several names, whose order is
//! Redis's dict order (the counts are still compared in sequence); PUBSUB CHANNELS is sorted.

mod resp_support;

use proptest::prelude::*;
use resp_support::{Frame, Listener, RawClient, cmd};
use switchyard_broker::embedded::glob::glob_match;
use switchyard_broker::embedded::resp::RespConfig;
use switchyard_testkit::RedisServer;

/// How a step's replies are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Byte for byte.
    Exact,
    /// Runs of consecutive aggregate frames (pushes) compared as multisets; other frames in
    /// place.
    Multiset,
    /// HELLO: every frame exact except the values of `version` and `id`.
    Hello,
    /// Integers masked (CLIENT ID).
    MaskInts,
    /// Aggregates sorted (PUBSUB CHANNELS).
    Sorted,
    /// A bare (P)UNSUBSCRIBE: the sequence of kinds and counts exact, names as a multiset.
    UnsubscribeAll,
    /// The server must answer and then close the connection; answers exact.
    Closes,
}
use Check::*;

struct Step {
    conn: usize,
    send: Vec<u8>,
    check: Check,
}

fn step(conn: usize, send: impl AsRef<[u8]>, check: Check) -> Step {
    Step {
        conn,
        send: send.as_ref().to_vec(),
        check,
    }
}

/// Sends each step to a fresh set of `conns` connections on `port`; returns each step's frames.
fn run(port: u16, conns: usize, steps: &[Step]) -> Vec<Vec<(Frame, Vec<u8>)>> {
    let mut clients: Vec<RawClient> = (0..conns).map(|_| RawClient::connect(port)).collect();
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let client = &mut clients[s.conn];
            client.send(&s.send);
            if s.check == Closes {
                client.until_closed()
            } else {
                client.sync(&format!("sync-marker-{i}"))
            }
        })
        .collect()
}

fn normalize(check: Check, frames: &[(Frame, Vec<u8>)]) -> Vec<Vec<u8>> {
    let raw: Vec<Vec<u8>> = frames.iter().map(|(_, r)| r.clone()).collect();
    match check {
        Exact | Closes => raw,
        Multiset => {
            let mut out = Vec::new();
            let mut run: Vec<Vec<u8>> = Vec::new();
            for (frame, bytes) in frames {
                if matches!(frame, Frame::Aggregate(..)) {
                    run.push(bytes.clone());
                } else {
                    run.sort();
                    out.append(&mut run);
                    out.push(bytes.clone());
                }
            }
            run.sort();
            out.append(&mut run);
            out
        }
        Hello => frames
            .iter()
            .map(|(frame, raw)| match frame {
                Frame::Aggregate(kind, items) => {
                    let mut items = items.clone();
                    for i in 1..items.len() {
                        let key = items[i - 1].text().map(<[u8]>::to_vec);
                        if key.as_deref() == Some(b"version") || key.as_deref() == Some(b"id") {
                            items[i] = Frame::Line(b'?', b"masked".to_vec());
                        }
                    }
                    format!("{:?}", Frame::Aggregate(*kind, items)).into_bytes()
                }
                _ => raw.clone(),
            })
            .collect(),
        MaskInts => frames
            .iter()
            .map(|(frame, raw)| match frame {
                Frame::Line(b':', _) => b":<int>".to_vec(),
                _ => raw.clone(),
            })
            .collect(),
        Sorted => frames
            .iter()
            .map(|(frame, raw)| match frame {
                Frame::Aggregate(kind, items) => {
                    let mut items = items.clone();
                    items.sort();
                    format!("{:?}", Frame::Aggregate(*kind, items)).into_bytes()
                }
                _ => raw.clone(),
            })
            .collect(),
        UnsubscribeAll => {
            let mut names = Vec::new();
            let mut shape = Vec::new();
            for (frame, raw) in frames {
                match frame {
                    Frame::Aggregate(kind, items) if items.len() == 3 => {
                        names.push(format!("{:?}", items[1]).into_bytes());
                        shape.push(format!("{kind} {:?} {:?}", items[0], items[2]).into_bytes());
                    }
                    _ => shape.push(raw.clone()),
                }
            }
            names.sort();
            shape.extend(names);
            shape
        }
    }
}

fn show(frames: &[Vec<u8>]) -> String {
    frames
        .iter()
        .map(|f| String::from_utf8_lossy(f).replace("\r\n", "\\r\\n"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Runs `steps` against a fresh real Redis and a fresh listener, and compares every step.
fn differential(conns: usize, steps: &[Step]) {
    let redis = RedisServer::start();
    let mut admin = RawClient::connect(redis.port());
    admin.send(&cmd(&[
        b"CONFIG",
        b"SET",
        b"proto-max-bulk-len",
        b"1048576",
    ]));
    admin.sync("config-set");
    let listener = Listener::start(RespConfig {
        max_request_size: 1_048_576,
        ..RespConfig::default()
    });
    let expected = run(redis.port(), conns, steps);
    let actual = run(listener.port(), conns, steps);
    for (i, s) in steps.iter().enumerate() {
        let want = normalize(s.check, &expected[i]);
        let got = normalize(s.check, &actual[i]);
        assert_eq!(
            show(&got),
            show(&want),
            "step {i} on connection {} ({:?}) sent {:?}\n   listener: {}\n      redis: {}",
            s.conn,
            s.check,
            String::from_utf8_lossy(&s.send),
            show(&got),
            show(&want),
        );
    }
}

#[test]
fn connection_commands_and_errors() {
    let long = "x".repeat(60);
    differential(
        1,
        &[
            step(0, "PING\r\n", Exact),
            step(0, "PING hello\r\n", Exact),
            step(0, cmd(&[b"PING", b"a b\r\nc"]), Exact),
            step(0, "PING a b\r\n", Exact),
            step(
                0,
                "*1\r\n$4\r\nping\r\n*0\r\n*-1\r\n\r\n  \r\nPing\n",
                Exact,
            ),
            step(0, "FOO bar baz\r\n", Exact),
            step(0, format!("nosuch {long} {long} {long}\r\n"), Exact),
            step(0, cmd(&[b"nul\0cmd", b"a\0b"]), Exact),
            step(0, "PUBLISH onlychannel\r\n", Exact),
            step(0, "SUBSCRIBE\r\nPSUBSCRIBE\r\nPUBSUB\r\n", Exact),
            step(
                0,
                "PUBSUB FOO\r\nPUBSUB NUMPAT x\r\nPUBSUB CHANNELS a b\r\n",
                Exact,
            ),
            step(
                0,
                "PUBSUB HELP\r\nPUBSUB NUMSUB\r\nPUBSUB NUMSUB a b\r\n",
                Exact,
            ),
            step(0, "PUBSUB SHARDCHANNELS\r\nPUBSUB SHARDNUMSUB x\r\n", Exact),
            step(0, "PUBLISH nobody listens\r\n", Exact),
            step(0, "CLIENT\r\nCLIENT FOO\r\nCLIENT SETNAME\r\n", Exact),
            step(
                0,
                "CLIENT GETNAME\r\nCLIENT SETNAME me\r\nCLIENT GETNAME\r\n",
                Exact,
            ),
            step(
                0,
                "CLIENT SETNAME \"a b\"\r\nCLIENT SETNAME \"\"\r\nCLIENT GETNAME\r\n",
                Exact,
            ),
            step(0, "CLIENT ID\r\n", MaskInts),
            step(0, "SELECT 0\r\nSELECT x\r\nSELECT\r\nSELECT -1x\r\n", Exact),
            step(
                0,
                "AUTH x\r\nAUTH default anything\r\nAUTH bob x\r\nAUTH a b c\r\nAUTH\r\n",
                Exact,
            ),
            step(
                0,
                "HELLO 4\r\nHELLO abc\r\nHELLO 3 FOO\r\nHELLO 3 AUTH default\r\n",
                Exact,
            ),
            step(0, "HELLO 3 SETNAME\r\nHELLO 2 SETNAME \"a b\"\r\n", Exact),
            step(0, "HELLO\r\n", Hello),
            step(0, "HELLO 2 SETNAME named\r\nCLIENT GETNAME\r\n", Hello),
            step(
                0,
                "UNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE x y\r\n",
                Exact,
            ),
            step(0, "PING \"a\\x41\\n\" 'it\\'s'\r\nPING \"q\"\r\n", Exact),
            step(0, "RESET\r\n", Exact),
            // Like Redis, the two bytes after a bulk's data are skipped unread; here that
            // leaves a bare CRLF where the next `$` should be.
            step(0, "*2\r\n$4\r\nPINGxx\r\n$1\r\nz\r\n", Closes),
        ],
    );
}

#[test]
fn subscribe_flows_in_resp2() {
    // 0 and 1 subscribe, 2 publishes.
    differential(
        3,
        &[
            step(0, "SUBSCRIBE a b a\r\n", Exact),
            step(0, "PING\r\nPING x\r\n", Exact),
            step(
                0,
                "GET x\r\nPUBLISH a b\r\nCLIENT SETNAME z\r\nPUBSUB NUMSUB a\r\n",
                Exact,
            ),
            step(0, "HELLO 2\r\nSELECT 0\r\nNOSUCH x\r\nGET\r\n", Exact),
            step(0, "PSUBSCRIBE c* *b\r\n", Exact),
            step(1, "SUBSCRIBE a cb\r\nPSUBSCRIBE c?\r\n", Exact),
            step(2, "PUBSUB NUMSUB a b cb c\r\nPUBSUB NUMPAT\r\n", Exact),
            step(
                2,
                "PUBSUB CHANNELS\r\nPUBSUB CHANNELS c*\r\nPUBSUB CHANNELS ?\r\n",
                Sorted,
            ),
            step(
                2,
                "PUBLISH a hello\r\nPUBLISH b world\r\nPUBLISH cb both\r\n",
                Exact,
            ),
            step(2, "PUBLISH zz nobody\r\n", Exact),
            step(0, "", Multiset),
            step(1, "", Multiset),
            step(
                0,
                "UNSUBSCRIBE a\r\nPUNSUBSCRIBE zz\r\nUNSUBSCRIBE a\r\n",
                Exact,
            ),
            step(0, "UNSUBSCRIBE\r\n", Exact),
            step(0, "PUNSUBSCRIBE\r\n", UnsubscribeAll),
            step(
                0,
                "PING\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nPUBLISH a now\r\n",
                Exact,
            ),
            step(1, "", Multiset),
            step(1, "UNSUBSCRIBE\r\n", UnsubscribeAll),
            step(1, "PING\r\nPUNSUBSCRIBE c?\r\nPING\r\n", Exact),
            step(
                2,
                "PUBSUB NUMSUB a\r\nPUBSUB NUMPAT\r\nPUBSUB CHANNELS\r\n",
                Exact,
            ),
            step(0, "SUBSCRIBE x\r\nQUIT\r\n", Closes),
            step(2, "*1\r\n$4\r\nPINGxx\r\nQUIT\r\n", Closes),
            step(1, "PSUBSCRIBE x\r\nRESET\r\nPING\r\n", Exact),
        ],
    );
}

#[test]
fn resp3_pushes() {
    differential(
        2,
        &[
            step(0, "HELLO 3\r\n", Hello),
            step(0, "SUBSCRIBE a\r\nPSUBSCRIBE a* ?\r\n", Exact),
            step(
                0,
                "PING\r\nPING x\r\nCLIENT GETNAME\r\nPUBSUB NUMPAT\r\n",
                Exact,
            ),
            step(1, "PUBLISH a one\r\nPUBLISH b two\r\n", Exact),
            step(0, "", Multiset),
            // A RESP3 client may publish while subscribed: its own pushes precede the count.
            step(0, "PUBLISH a self\r\n", Multiset),
            step(0, "UNSUBSCRIBE\r\nUNSUBSCRIBE\r\n", Exact),
            step(
                0,
                "PUNSUBSCRIBE a*\r\nPUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\n",
                Exact,
            ),
            step(0, "HELLO 2\r\n", Hello),
            step(0, "SUBSCRIBE z\r\nPING\r\n", Exact),
            step(1, "HELLO 3\r\nPSUBSCRIBE z\r\n", Hello),
            step(1, "RESET\r\nPING\r\n", Exact),
        ],
    );
}

#[test]
fn globs_and_publish_counts() {
    let patterns: &[&[u8]] = &[
        b"PSUBSCRIBE",
        b"h?llo",
        b"h[ae]llo",
        b"h[^e]llo",
        b"h[a-c]llo",
        b"h\\*llo",
        b"inbound.*",
        b"*",
        b"[",
        b"a[",
        b"\\",
    ];
    let mut steps = vec![
        step(0, cmd(patterns), Exact),
        step(
            1,
            "PSUBSCRIBE * inbound.* h?llo\r\nSUBSCRIBE hello\r\n",
            Exact,
        ),
    ];
    for channel in [
        "hello",
        "hallo",
        "hbllo",
        "h*llo",
        "hxllo",
        "hllo",
        "inbound.discord.1.2.3",
        "inbound.",
        "[",
        "a[",
        "\\",
        "",
        "x",
    ] {
        steps.push(step(2, cmd(&[b"PUBLISH", channel.as_bytes(), b"p"]), Exact));
    }
    steps.push(step(0, "", Multiset));
    steps.push(step(1, "", Multiset));
    differential(3, &steps);
}

#[test]
fn protocol_errors_close_the_connection() {
    let cases: &[&[u8]] = &[
        b"*1\r\n$x\r\n",
        b"*2\r\n$4\r\nPING\r\n+x\r\n",
        b"*x\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$01\r\n",
        b"*3000000000\r\n",
        b"PING \"a\r\n",
        b"PING 'a'b\r\n",
        // One byte over the limit both servers were given (proto-max-bulk-len 1 MiB).
        b"*2\r\n$7\r\nPUBLISH\r\n$1048577\r\n",
    ];
    let steps: Vec<Step> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| step(i, c, Closes))
        .collect();
    differential(cases.len(), &steps);
}

#[test]
fn oversized_headers_without_newline() {
    // One byte more than 64 KiB of header with no CR: both answer with Redis's "too big"
    // errors and close. (Exactly one byte over, so that both servers have read everything
    // before closing and the client sees the reply rather than a reset.)
    let inline = vec![b'a'; 64 * 1024 + 1];
    let mut mbulk = b"*".to_vec();
    mbulk.extend(vec![b'1'; 64 * 1024]);
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(vec![b'1'; 64 * 1024]);
    differential(
        3,
        &[
            step(0, inline, Closes),
            step(1, mbulk, Closes),
            step(2, bulk, Closes),
        ],
    );
}

fn pubsub_channels(client: &mut RawClient, pattern: &[u8]) -> Vec<Vec<u8>> {
    client.send(&cmd(&[b"PUBSUB", b"CHANNELS", pattern]));
    let (frame, _) = client
        .frame(std::time::Duration::from_secs(5))
        .expect("PUBSUB CHANNELS answer");
    let Frame::Aggregate(_, items) = frame else {
        panic!("PUBSUB CHANNELS answered {frame:?}");
    };
    let mut names: Vec<Vec<u8>> = items
        .iter()
        .filter_map(|f| f.text().map(<[u8]>::to_vec))
        .collect();
    names.sort();
    names
}

/// Real Redis is the oracle for the glob matcher: a connection subscribes to many channel
/// names, and `PUBSUB CHANNELS pattern` on Redis must equal both `glob_match` over the same
/// names and the listener's own answer.
#[test]
fn glob_match_agrees_with_redis() {
    let redis = RedisServer::start();
    let listener = Listener::start(RespConfig::default());
    let channels: Vec<Vec<u8>> = {
        let alphabet: &[u8] = b"ab.-]^\\[*?";
        let mut out = vec![Vec::new()];
        // Every string of length 0..=3 over a small alphabet, plus some longer ones.
        for len in 1..=3 {
            let mut idx = vec![0usize; len];
            loop {
                out.push(idx.iter().map(|&i| alphabet[i]).collect());
                let mut k = 0;
                while k < len {
                    idx[k] += 1;
                    if idx[k] < alphabet.len() {
                        break;
                    }
                    idx[k] = 0;
                    k += 1;
                }
                if k == len {
                    break;
                }
            }
        }
        out.extend([
            b"aaaaab".to_vec(),
            b"ab.ab.ab".to_vec(),
            b"inbound.x.y".to_vec(),
        ]);
        out.retain(|c| !c.is_empty());
        out
    };
    let mut subscribers = Vec::new();
    for port in [redis.port(), listener.port()] {
        let mut sub = RawClient::connect(port);
        for chunk in channels.chunks(200) {
            let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
            args.extend(chunk.iter().map(Vec::as_slice));
            sub.send(&cmd(&args));
        }
        sub.sync("subscribed");
        subscribers.push(sub);
    }
    let redis_q = std::cell::RefCell::new(RawClient::connect(redis.port()));
    let ours_q = std::cell::RefCell::new(RawClient::connect(listener.port()));
    let config = ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(pattern in proptest::collection::vec(
        proptest::sample::select(b"ab.-]^\\[*?".to_vec()), 0..7))| {
        let oracle = pubsub_channels(&mut redis_q.borrow_mut(), &pattern);
        let mut ours: Vec<Vec<u8>> = channels
            .iter()
            .filter(|c| glob_match(&pattern, c))
            .cloned()
            .collect();
        ours.sort();
        prop_assert_eq!(&ours, &oracle, "glob_match for pattern {:?}", String::from_utf8_lossy(&pattern));
        let listener_answer = pubsub_channels(&mut ours_q.borrow_mut(), &pattern);
        prop_assert_eq!(&listener_answer, &oracle, "listener for pattern {:?}", String::from_utf8_lossy(&pattern));
    });
    drop(subscribers);
}
