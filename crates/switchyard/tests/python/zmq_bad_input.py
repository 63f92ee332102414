"""Bad input and a stuck subscriber against a switchyard's ZeroMQ endpoints, with pyzmq.

Usage: zmq_bad_input.py PUB_PORT PULL_PORT MAX_PAYLOAD FLOOD_COUNT

1. Garbage bytes on the PULL port (a raw TCP connection), then over one PUSH socket: a
   one-frame message, a three-frame message, a topic that is not a topic, and a payload one
   byte over MAX_PAYLOAD; then a good message. A SUB subscribed to `bad.` must receive the
   good message and nothing else.
2. A SUB that never reads (stuck, with the smallest buffers) and a SUB that reads, both on
   `flood.`; FLOOD_COUNT payloads of 64 KiB are pushed, a hundred at a time, each hundred
   waiting until the reader has it. The reader must get every one of them in order.

Prints one JSON line with what the reader received; exits non-zero on a failure.
"""

import json
import socket
import sys
import time

import zmq

DEADLINE = 60.0


def fail(why):
    print(json.dumps({"ok": False, "why": why}), flush=True)
    sys.exit(1)


def sync(push, subs, topic):
    """Pushes on `topic` until every SUB in `subs` received one: their subscriptions are in."""
    pending = set(range(len(subs)))
    poller = zmq.Poller()
    for s in subs:
        poller.register(s, zmq.POLLIN)
    end = time.monotonic() + DEADLINE
    while pending:
        if time.monotonic() > end:
            fail(f"subscriptions never took effect on {topic}")
        push.send_multipart([topic, b"sync"])
        for sock, _ in poller.poll(100):
            i = subs.index(sock)
            while sock.poll(0):
                got, _ = sock.recv_multipart()
                if got == topic:
                    pending.discard(i)


def main():
    pub_port, pull_port, max_payload, flood = (int(a) for a in sys.argv[1:5])
    ctx = zmq.Context()
    sub_url, push_url = f"tcp://127.0.0.1:{pub_port}", f"tcp://127.0.0.1:{pull_port}"

    watcher = ctx.socket(zmq.SUB)
    watcher.connect(sub_url)
    watcher.setsockopt(zmq.SUBSCRIBE, b"bad.")
    push = ctx.socket(zmq.PUSH)
    push.connect(push_url)
    sync(push, [watcher], b"bad.sync")

    # Garbage where a ZMTP greeting should be.
    raw = socket.create_connection(("127.0.0.1", pull_port))
    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    raw.settimeout(DEADLINE)
    try:
        while raw.recv(4096):
            pass  # the endpoint's greeting, then it closes the connection
    except OSError:
        pass
    raw.close()

    push.send(b"bad.one-frame")
    push.send_multipart([b"bad.three", b"frames", b"here"])
    push.send_multipart([b"bad..not a topic", b"x"])
    push.send_multipart([b"bad.huge", b"x" * (max_payload + 1)])
    push.send_multipart([b"bad.good", b"still served"])
    got = [b"bad.sync"]
    while got[0] == b"bad.sync":  # late copies of the sync messages
        if not watcher.poll(int(DEADLINE * 1000)):
            fail("the good message after the bad ones never arrived")
        got = watcher.recv_multipart()
    if got != [b"bad.good", b"still served"]:
        fail(f"expected the good message first, got {got[:2]!r}")

    stuck = ctx.socket(zmq.SUB)
    stuck.setsockopt(zmq.RCVHWM, 1)
    stuck.setsockopt(zmq.RCVBUF, 4096)
    stuck.connect(sub_url)
    stuck.setsockopt(zmq.SUBSCRIBE, b"flood.")
    reader = ctx.socket(zmq.SUB)
    reader.connect(sub_url)
    reader.setsockopt(zmq.SUBSCRIBE, b"flood.")
    sync(push, [stuck, reader], b"flood.sync")
    # From here on `stuck` is never read again.
    received = 0
    body = b"f" * 65536
    end = time.monotonic() + DEADLINE * 2
    for start in range(0, flood, 100):
        batch = range(start, min(start + 100, flood))
        for i in batch:
            push.send_multipart([b"flood.data", str(i).encode() + b":" + body])
        while received < batch[-1] + 1:
            if time.monotonic() > end or not reader.poll(int(DEADLINE * 1000)):
                fail(f"the reader stalled after {received} of {flood} messages")
            topic, payload = reader.recv_multipart()
            if topic == b"flood.sync":
                continue
            n = int(payload.split(b":", 1)[0])
            if n != received:
                fail(f"the reader got message {n} where {received} was due")
            received += 1
    print(json.dumps({"ok": True, "received": received}), flush=True)
    stuck.close(linger=0)
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
