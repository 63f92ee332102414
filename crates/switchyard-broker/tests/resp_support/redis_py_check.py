"""redis-py against Switchyard's RESP listener (run by tests/resp_python.rs).

Usage: redis_py_check.py PORT PROTOCOL

Subscribes to a channel and a pattern, checks PUBLISH counts and PUBSUB answers, prints
READY, then expects a message that the Rust side publishes through the Broker API on
inbound.discord.1.2.3, and finally publishes py.done for the Rust side's Broker-API
subscriber. Prints OK on success; any failure raises (non-zero exit).
"""

import sys
import time

import redis


def next_message(pubsub, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if msg is not None:
            return msg
    raise AssertionError("no message within %.0f s" % deadline)


def main():
    port, protocol = int(sys.argv[1]), int(sys.argv[2])
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    assert r.ping() is True
    assert r.client_setname("py-check") is True
    assert r.client_getname() in (b"py-check", "py-check")

    p = r.pubsub()
    p.subscribe("plain")
    p.psubscribe("inbound.*")
    # Consume the two confirmations.
    seen = []
    end = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < end:
        msg = p.get_message(timeout=0.5)
        if msg is not None:
            seen.append(msg["type"])
    assert sorted(seen) == ["psubscribe", "subscribe"], seen

    assert r.publish("plain", "hello") == 1
    msg = next_message(p)
    assert msg["type"] == "message" and msg["channel"] == b"plain" and msg["data"] == b"hello", msg

    assert r.publish("inbound.x.y", "globbed") == 1
    msg = next_message(p)
    assert msg["type"] == "pmessage", msg
    assert msg["pattern"] == b"inbound.*" and msg["channel"] == b"inbound.x.y", msg
    assert msg["data"] == b"globbed", msg

    assert r.pubsub_numsub("plain") == [(b"plain", 1)]
    assert r.pubsub_numpat() == 1
    assert r.pubsub_channels() == [b"plain"]

    print("READY", flush=True)
    msg = next_message(p)
    assert msg["type"] == "pmessage", msg
    assert msg["channel"] == b"inbound.discord.1.2.3", msg
    assert msg["data"] == b"from-broker-api", msg

    p.unsubscribe()
    p.punsubscribe()
    p.close()
    assert r.publish("py.done", "protocol-%d" % protocol) == 1
    print("OK", flush=True)


if __name__ == "__main__":
    main()
