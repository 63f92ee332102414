"""Drives `switchyard run`'s service control as a Python service would, with the signing
block of docs/security.md (imported as `control_signing` from the directory in argv[1]):
one signed IDENTIFY, whose answer it verifies, then an unsigned one, one with a wrong key,
a tampered one, a replay and a stale one. Usage: control_auth.py DIR PORT KEY"""

import json
import sys
import time

import redis

sys.path.insert(0, sys.argv[1])
from control_signing import sign, verify  # noqa: E402

port, key = int(sys.argv[2]), sys.argv[3].encode()
r = redis.Redis(host="127.0.0.1", port=port)
answers = r.pubsub()
answers.subscribe("control.pybot")
answers.get_message(timeout=5)  # the subscribe confirmation

TOPIC = "control.gateway"


def hello(instance):
    return {"name": "pybot", "instance": instance, "version": "0.3", "envelope_version": 1}


good = sign(key, TOPIC, "pybot/py-1", 0, hello("py-1"))
r.publish(TOPIC, good)

# The gateway's answer is signed with the same key: verify it as docs/security.md shows.
deadline = time.time() + 20
seen = {}
while True:
    assert time.time() < deadline, "no answer to the signed IDENTIFY"
    m = answers.get_message(timeout=1)
    if not m or m["type"] != "message":
        continue
    msg = verify(key, "control.pybot", m["data"], seen)
    if msg["d"].get("instance") == "py-1":
        assert msg["d"]["ok"] is True, msg
        break
try:
    verify(key, "control.pybot", m["data"], seen)
    raise SystemExit("verify accepted a replay")
except ValueError as e:
    assert str(e) == "replayed", e
print("answer verified")

r.publish(TOPIC, json.dumps({"s": "pybot/x", "t": "IDENTIFY",
                             "d": {**hello("py-unsigned"), "opcode": 0}}))
r.publish(TOPIC, sign(b"guess", TOPIC, "pybot/py-wrong", 0, hello("py-wrong")))
tampered = json.loads(sign(key, TOPIC, "pybot/py-t", 0, hello("py-t")))
tampered["d"]["instance"] = "py-tampered"
r.publish(TOPIC, json.dumps(tampered))
r.publish(TOPIC, good)  # a replay
stale = int(time.time() * 1000) - 120_000
r.publish(TOPIC, sign(key, TOPIC, "pybot/py-stale", 0, hello("py-stale"), ts=stale))
print("sent")
