"""A Python consumer that sends garbage and requests that fail, and records every error report
the gateway publishes. Usage: garbage_consumer.py PORT GUILD CHANNEL OUT_FILE. Writes the
error reports (one JSON document a line) to OUT_FILE; exits 0 once it has one per fault."""

import json
import sys
import time

import redis

port, guild, channel, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = redis.Redis(host="127.0.0.1", port=port)
errors = r.pubsub()
errors.psubscribe("errors.*")
errors.get_message(timeout=5)  # the psubscribe confirmation

here = f"outbound.discord.{guild}.{channel}.0"
faults = [
    (here, b"{not json"),                                   # bad_json
    (here, json.dumps({"embeds": 5}).encode()),             # bad_payload
    ("outbound.discord.0.0.0", json.dumps("hi").encode()),  # no_channel
    # A REST call the fake refuses: a channel that does not exist.
    (f"outbound.discord.{guild}.4242424242.0", json.dumps("to nowhere").encode()),
    # A request whose answer would go outside the reply namespace.
    (here, json.dumps({"method": "GET", "path": f"/channels/{channel}",
                       "reply_to": "inbound.discord.1.2.3"}).encode()),
]
for topic, payload in faults:
    r.publish(topic, payload)
# Garbage where nothing answers with an error topic: the gateway logs it and keeps serving.
r.publish("control.gateway", b"\x00\xff garbage")
r.publish("control.gateway", json.dumps({"s": "x", "t": "IDENTIFY", "d": {"opcode": 99}}))

got = []
deadline = time.time() + 30
while len(got) < len(faults) and time.time() < deadline:
    m = errors.get_message(timeout=1)
    if m and m["type"] == "pmessage":
        got.append(m["data"].decode("utf-8", "replace"))
with open(out, "w") as f:
    f.write("\n".join(got))
print(f"{len(got)} error reports")
sys.exit(0 if len(got) >= len(faults) else 1)
