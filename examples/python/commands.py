#!/usr/bin/env python3
"""Gateway commands from a plain redis-py client, with no shard of its own.

A bot whose code runs apart from its shards asks the gateway to send what only a connected
bot can: its presence, a voice join, a member request. The gateway sends each on the shard
that holds the guild and answers on our own reply topic (docs/topics.md, "A gateway
command"): first that it was sent, then the events that answer it. Works against Redis or the
embedded broker's RESP port (redis://127.0.0.1:7379, the default).

    pip install redis
    python3 examples/python/commands.py presence dnd "the logs"
    python3 examples/python/commands.py members GUILD_ID [NAME_PREFIX]
    python3 examples/python/commands.py voice GUILD_ID CHANNEL_ID|leave

SWITCHYARD_REDIS names the server; SWITCHYARD_OUTBOUND the bot's outbound prefix
(outbound.discord, the first bot's).
"""

import json
import os
import sys
import time
import uuid

try:
    import redis
except ImportError:
    sys.exit("this example needs redis-py: pip install redis")

WAIT_S = float(os.environ.get("SWITCHYARD_WAIT_S", "15"))


def answers(client, command):
    """Publishes `command` and yields the gateway's answers until WAIT_S passes."""
    reply_to = "inbound.rest.py-" + uuid.uuid4().hex[:12] + ".1"
    pubsub = client.pubsub()
    pubsub.subscribe(reply_to)
    # Listen before asking: an answer published before we subscribe is gone (pub/sub).
    if pubsub.get_message(timeout=5) is None:
        sys.exit("could not subscribe to " + reply_to)
    command["reply_to"] = reply_to
    outbound = os.environ.get("SWITCHYARD_OUTBOUND", "outbound.discord")
    client.publish(outbound + ".0.0.0", json.dumps(command))
    deadline = time.monotonic() + WAIT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit(f"no answer within {WAIT_S} s: is a gateway reading {outbound}.> here?")
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if msg is None:
            continue
        answer = json.loads(msg["data"])
        if not answer.get("ok"):
            # kind: missing_intent, no_holder, queue_full, rate_limited, ... (docs/topics.md)
            retry = answer.get("retry_after_ms")
            hint = f" (retry in {retry} ms)" if retry else ""
            sys.exit(f"refused, {answer.get('kind')}: {answer.get('error')}{hint}")
        yield answer


def presence(client, status, activity=None):
    activities = [{"name": activity, "type": 0}] if activity else []
    command = {"command": "update_presence", "status": status, "activities": activities,
               "afk": False, "since": None}
    first = next(answers(client, command))  # one answer per shard; the first will do
    print(f"presence {status} sent (shard {first.get('shard')})", flush=True)


def members(client, guild, prefix=""):
    # An empty prefix asks for every member, which needs the GUILD_MEMBERS intent.
    command = {"command": "request_guild_members", "guild_id": guild, "query": prefix,
               "limit": 0 if prefix == "" else 100}
    for answer in answers(client, command):
        if answer.get("event") != "GUILD_MEMBERS_CHUNK":
            continue
        chunk = answer["d"]
        for member in chunk["members"]:
            print(member["user"]["id"], member["user"]["username"], flush=True)
        if chunk["chunk_index"] + 1 >= chunk["chunk_count"]:
            return


def voice(client, guild, channel):
    leaving = channel == "leave"
    command = {"command": "update_voice_state", "guild_id": guild,
               "channel_id": None if leaving else channel,
               "self_mute": False, "self_deaf": True}
    state = server = None
    for answer in answers(client, command):
        if answer.get("event") == "VOICE_STATE_UPDATE":
            state = answer["d"]
        elif answer.get("event") == "VOICE_SERVER_UPDATE":
            server = answer["d"]
        if state and (leaving or server):
            print("voice session", state["session_id"], "endpoint",
                  server["endpoint"] if server else None, flush=True)
            return


def main():
    client = redis.Redis.from_url(os.environ.get("SWITCHYARD_REDIS", "redis://127.0.0.1:7379"))
    args = sys.argv[1:]
    commands = {"presence": presence, "members": members, "voice": voice}
    if not args or args[0] not in commands:
        sys.exit(__doc__)
    try:
        commands[args[0]](client, *args[1:])
    except TypeError:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
