"""ZeroMQ heartbeats against a switchyard's endpoints, with pyzmq.

Usage: zmq_heartbeat.py PUB_PORT PULL_PORT

A SUB and a PUSH socket with ZMQ_HEARTBEAT_IVL set send PINGs and drop the connection when
nothing comes back within ZMQ_HEARTBEAT_TIMEOUT; the PUSH side receives nothing else from the
endpoint, so only PONGs keep it up. Both stay idle for three timeouts; neither may be
disconnected, and a message then goes through. Prints one JSON line; exits non-zero on a
failure.
"""

import json
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

IVL_MS = 100
TIMEOUT_MS = 1000
DEADLINE = 60.0


def fail(why):
    print(json.dumps({"ok": False, "why": why}), flush=True)
    sys.exit(1)


def main():
    pub_port, pull_port = (int(a) for a in sys.argv[1:3])
    ctx = zmq.Context()
    socks = {}
    for name, kind, port in (("sub", zmq.SUB, pub_port), ("push", zmq.PUSH, pull_port)):
        s = ctx.socket(kind)
        s.setsockopt(zmq.HEARTBEAT_IVL, IVL_MS)
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, TIMEOUT_MS)
        s.connect(f"tcp://127.0.0.1:{port}")
        socks[name] = s
    sub, push = socks["sub"], socks["push"]
    monitors = {n: s.get_monitor_socket(zmq.EVENT_DISCONNECTED) for n, s in socks.items()}
    sub.setsockopt(zmq.SUBSCRIBE, b"hb.")
    end = time.monotonic() + DEADLINE
    while not sub.poll(100):
        if time.monotonic() > end:
            fail("the subscription never took effect")
        push.send_multipart([b"hb.sync", b""])
    while sub.poll(200):
        sub.recv_multipart()

    idle_until = time.monotonic() + 3 * TIMEOUT_MS / 1000
    while time.monotonic() < idle_until:
        for name, mon in monitors.items():
            if mon.poll(50):
                event = recv_monitor_message(mon)
                fail(f"the {name} socket was disconnected while idle: {event}")
    push.send_multipart([b"hb.after", b"still connected"])
    if not sub.poll(int(DEADLINE * 1000)):
        fail("nothing arrived after the idle spell")
    got = sub.recv_multipart()
    while got[0] == b"hb.sync":
        got = sub.recv_multipart()
    if got != [b"hb.after", b"still connected"]:
        fail(f"unexpected {got!r}")
    print(json.dumps({"ok": True}), flush=True)
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
