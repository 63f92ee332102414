#!/usr/bin/env python3
"""The seeds' ,echo bot as a plain redis-py subscriber.

It connects to Redis, or to the embedded broker's RESP port (the default,
redis://127.0.0.1:7379, opened by `switchyard run` with the embedded broker), subscribes to
every inbound Discord and IRC event, and answers `,echo <text>` with a reply on the outbound
topic of the same guild (or IRC network), channel and user: the platform is in the topic, so
the answer goes back where the message came from. Nothing here is specific to Switchyard but
the topic names and the envelope (docs/wire-format.md, docs/irc.md).

    pip install redis
    SWITCHYARD_REDIS=redis://127.0.0.1:7379 python3 examples/python/echo_bot.py
"""

import json
import os
import sys

try:
    import redis
except ImportError:
    sys.exit("this example needs redis-py: pip install redis")


def answer(topic, envelope):
    """The (outbound topic, payload) answering one event, or None."""
    # The default profile wraps each event in an envelope {v, id, s, t, seq, ..., d};
    # the Bytebot profile publishes the bare message object.
    if "t" in envelope and "d" in envelope:
        if envelope["t"] != "MESSAGE_CREATE":
            return None
        message = envelope["d"]
    else:
        message = envelope
    if message.get("author", {}).get("bot"):
        return None  # never answer bots (ourselves included)
    content = message.get("content", "")
    if not content.startswith(",echo "):
        return None
    # inbound.discord.{guild}.{channel}.{user} -> outbound.discord.{guild}.{channel}.{user}
    # inbound.irc.{network}.{channel}.{nick}   -> outbound.irc.{network}.{channel}.{nick}
    outbound = "outbound." + topic.split(".", 1)[1]
    reply = {
        "content": "ok, you said: " + content[len(",echo "):],
        "message_reference": {"message_id": message["id"]},
        "allowed_mentions": {"parse": []},
    }
    return outbound, json.dumps(reply)


def main():
    url = os.environ.get("SWITCHYARD_REDIS", "redis://127.0.0.1:7379")
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    # Redis globs: `*` crosses dots, so these are every inbound Discord and IRC event.
    patterns = ("inbound.discord.*", "inbound.irc.*")
    pubsub.psubscribe(*patterns)
    # psubscribe only sends the command: events published before the broker's confirmation
    # would not reach us, so "listening" waits for it.
    confirmed = 0
    while confirmed < len(patterns):
        reply = pubsub.get_message(timeout=10)
        if reply is None:
            sys.exit(f"{url} did not confirm the subscription within 10 s")
        if reply["type"] == "psubscribe":
            confirmed += 1
    print(f"listening on {url}", flush=True)
    for msg in pubsub.listen():
        if msg["type"] != "pmessage":
            continue
        topic = msg["channel"].decode()
        try:
            envelope = json.loads(msg["data"])
        except ValueError:
            continue
        if not isinstance(envelope, dict):
            continue
        out = answer(topic, envelope)
        if out is not None:
            client.publish(*out)
            print(f"answered on {out[0]}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
