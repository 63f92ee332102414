#!/usr/bin/env python3
"""The seeds' ,echo bot over ZeroMQ, with pyzmq and nothing else.

A SUB socket connects to the embedded broker's ZeroMQ PUB endpoint and subscribes by topic
prefix to every inbound Discord event; a PUSH socket connects to its PULL endpoint and
answers `,echo <text>` on the outbound topic of the same guild, channel and user. Every
message is two frames, [topic, payload] (docs/zmq.md). Start the gateway with the endpoints
on, for example:

    SWITCHYARD_BROKER_ZMQ_PUB=127.0.0.1:7381 SWITCHYARD_BROKER_ZMQ_PULL=127.0.0.1:7382 \
        switchyard run
    pip install pyzmq
    python3 examples/python/zmq_echo_bot.py
"""

import json
import os
import sys

try:
    import zmq
except ImportError:
    sys.exit("this example needs pyzmq: pip install pyzmq")


def main():
    sub_url = os.environ.get("SWITCHYARD_ZMQ_SUB", "tcp://127.0.0.1:7381")
    push_url = os.environ.get("SWITCHYARD_ZMQ_PUSH", "tcp://127.0.0.1:7382")
    ctx = zmq.Context()
    events = ctx.socket(zmq.SUB)
    events.connect(sub_url)
    events.setsockopt(zmq.SUBSCRIBE, b"inbound.discord.")  # a prefix, not a pattern
    answers = ctx.socket(zmq.PUSH)
    answers.connect(push_url)
    print(f"listening on {sub_url}, answering on {push_url}", flush=True)
    while True:
        topic, payload = events.recv_multipart()
        envelope = json.loads(payload)
        # The default profile wraps each event in an envelope {v, id, s, t, seq, ..., d}.
        if envelope.get("t") != "MESSAGE_CREATE":
            continue
        message = envelope["d"]
        content = message.get("content", "")
        if message.get("author", {}).get("bot") or not content.startswith(",echo "):
            continue
        # inbound.discord.{guild}.{channel}.{user} -> outbound.discord.{guild}.{channel}.{user}
        outbound = b"outbound." + topic.split(b".", 1)[1]
        reply = {
            "content": "ok, you said: " + content[len(",echo "):],
            "message_reference": {"message_id": message["id"]},
        }
        answers.send_multipart([outbound, json.dumps(reply).encode()])
        print(f"answered on {outbound.decode()}", flush=True)


if __name__ == "__main__":
    main()
