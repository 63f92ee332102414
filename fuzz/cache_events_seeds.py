"""Writes the named seeds of the cache_events fuzz target into corpus/cache_events/.

Each seed is a GUILD_CREATE followed by one event of every kind the cache reads (and a few
malformed ones); see crates/switchyard-cache/tests/fuzz_driver/mod.rs for the input format.
Run from the fuzz/ directory: python3 cache_events_seeds.py
"""
import json
import os

EVENTS = ["READY", "GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE", "USER_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE", "THREAD_CREATE", "THREAD_UPDATE", "THREAD_DELETE", "THREAD_LIST_SYNC", "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE", "GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE", "GUILD_MEMBERS_CHUNK", "MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK", "GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE", "PRESENCE_UPDATE", "VOICE_STATE_UPDATE", "STAGE_INSTANCE_CREATE", "STAGE_INSTANCE_UPDATE", "STAGE_INSTANCE_DELETE", "GUILD_SCHEDULED_EVENT_CREATE", "GUILD_SCHEDULED_EVENT_UPDATE", "GUILD_SCHEDULED_EVENT_DELETE", "TYPING_START"]


def user(i, name):
    return {"id": str(i), "username": name, "global_name": None, "discriminator": "0", "avatar": None}


def member(i, name, roles=(), nick=None):
    return {"user": user(i, name), "nick": nick, "roles": list(roles), "joined_at": "2020-01-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0, "pending": False, "communication_disabled_until": None}


VOICE = {"user_id": "10", "channel_id": "100", "guild_id": "1", "session_id": "s", "deaf": False, "mute": False, "self_deaf": False, "self_mute": False, "self_video": False, "suppress": False}
GUILD = {
    "id": "1", "name": "g", "owner_id": "11", "member_count": 3, "large": False,
    "channels": [
        {"id": "100", "type": 2, "name": "voice", "permission_overwrites": [{"id": "1", "type": 0, "allow": "0", "deny": "1024"}, {"id": "10", "type": 1, "allow": "1024", "deny": "0"}]},
        {"id": "101", "type": 0, "name": "text", "permission_overwrites": []},
    ],
    "threads": [{"id": "102", "type": 11, "parent_id": "101", "name": "t"}],
    "roles": [{"id": "1", "name": "@everyone", "permissions": "1024"}, {"id": "5", "name": "mods", "permissions": "8"}],
    "members": [member(10, "alice", ["5"]), member(11, "bob"), member(12, "al", [], "nick")],
    "presences": [{"user": {"id": "10"}, "guild_id": "1", "status": "online", "activities": [{"name": "x", "type": 0}], "client_status": {"desktop": "online"}}],
    "voice_states": [VOICE], "emojis": [{"id": "50", "name": "e"}], "stickers": [{"id": "60", "name": "s"}],
    "stage_instances": [{"id": "70", "guild_id": "1", "channel_id": "100", "topic": "t", "privacy_level": 2}],
    "guild_scheduled_events": [{"id": "80", "guild_id": "1", "name": "ev", "status": 1, "entity_type": 2, "channel_id": "100"}],
}


def msg(i, content):
    return {"id": str(i), "channel_id": "101", "guild_id": "1", "content": content, "author": user(10, "alice")}


SEEDS = {
    "READY": {"user": user(99, "bot"), "guilds": [{"id": "1", "unavailable": True}], "session_id": "x", "v": 10},
    "GUILD_CREATE": GUILD,
    "GUILD_UPDATE": {"id": "1", "name": "g2", "owner_id": "10", "roles": [{"id": "1", "name": "@everyone", "permissions": "0"}]},
    "GUILD_DELETE": {"id": "1", "unavailable": True},
    "USER_UPDATE": user(99, "bot2"),
    "CHANNEL_CREATE": {"id": "103", "type": 0, "guild_id": "1", "name": "new", "permission_overwrites": []},
    "CHANNEL_UPDATE": {"id": "101", "type": 0, "guild_id": "1", "name": "renamed", "permission_overwrites": [{"id": "5", "type": 0, "allow": "2048", "deny": "0"}]},
    "CHANNEL_DELETE": {"id": "101", "type": 0, "guild_id": "1"},
    "THREAD_CREATE": {"id": "104", "type": 11, "guild_id": "1", "parent_id": "101", "name": "t2"},
    "THREAD_UPDATE": {"id": "102", "type": 11, "guild_id": "1", "parent_id": "101", "name": "t3"},
    "THREAD_DELETE": {"id": "102", "type": 11, "guild_id": "1", "parent_id": "101"},
    "THREAD_LIST_SYNC": {"guild_id": "1", "threads": [{"id": "105", "type": 11, "parent_id": "101", "name": "s"}], "members": []},
    "GUILD_ROLE_CREATE": {"guild_id": "1", "role": {"id": "6", "name": "r", "permissions": "2048"}},
    "GUILD_ROLE_UPDATE": {"guild_id": "1", "role": {"id": "5", "name": "mods", "permissions": "0"}},
    "GUILD_ROLE_DELETE": {"guild_id": "1", "role_id": "5"},
    "GUILD_MEMBER_ADD": dict(member(13, "alfred"), guild_id="1"),
    "GUILD_MEMBER_UPDATE": {"guild_id": "1", "user": user(10, "alice"), "roles": [], "nick": "ali", "communication_disabled_until": "2100-01-01T00:00:00+00:00"},
    "GUILD_MEMBER_REMOVE": {"guild_id": "1", "user": user(11, "bob")},
    "GUILD_MEMBERS_CHUNK": {"guild_id": "1", "members": [member(14, "x"), member(15, "y")], "chunk_index": 0, "chunk_count": 1, "nonce": "sy:cache"},
    "MESSAGE_CREATE": msg(1000, "hello"),
    "MESSAGE_UPDATE": {"id": "1000", "channel_id": "101", "guild_id": "1", "content": "edited"},
    "MESSAGE_DELETE": {"id": "1000", "channel_id": "101", "guild_id": "1"},
    "MESSAGE_DELETE_BULK": {"ids": ["1000", "1001"], "channel_id": "101", "guild_id": "1"},
    "GUILD_EMOJIS_UPDATE": {"guild_id": "1", "emojis": []},
    "GUILD_STICKERS_UPDATE": {"guild_id": "1", "stickers": []},
    "PRESENCE_UPDATE": {"user": {"id": "10"}, "guild_id": "1", "status": "idle", "activities": [], "client_status": {"mobile": "idle"}},
    "VOICE_STATE_UPDATE": dict(VOICE, channel_id=None),
    "STAGE_INSTANCE_CREATE": {"id": "71", "guild_id": "1", "channel_id": "100", "topic": "n", "privacy_level": 2},
    "STAGE_INSTANCE_UPDATE": {"id": "70", "guild_id": "1", "channel_id": "100", "topic": "u", "privacy_level": 2},
    "STAGE_INSTANCE_DELETE": {"id": "70", "guild_id": "1", "channel_id": "100", "topic": "u", "privacy_level": 2},
    "GUILD_SCHEDULED_EVENT_CREATE": {"id": "81", "guild_id": "1", "name": "n", "status": 1, "entity_type": 2, "channel_id": "100"},
    "GUILD_SCHEDULED_EVENT_UPDATE": {"id": "80", "guild_id": "1", "name": "u", "status": 2, "entity_type": 2, "channel_id": "100"},
    "GUILD_SCHEDULED_EVENT_DELETE": {"id": "80", "guild_id": "1", "name": "u", "status": 3, "entity_type": 2, "channel_id": "100"},
    "TYPING_START": {"channel_id": "101", "guild_id": "1", "user_id": "10", "timestamp": 1},
}
BAD = [
    ("GUILD_CREATE", {"id": "x"}),
    ("GUILD_MEMBER_UPDATE", {"guild_id": "1"}),
    ("THREAD_LIST_SYNC", {"guild_id": "1", "threads": [{"id": "106"}, {"name": "no id"}]}),
    ("MESSAGE_UPDATE", {"id": "1000", "channel_id": "101", "content": 5}),
    ("GUILD_MEMBERS_CHUNK", {"guild_id": "1", "members": [member(16, "ok"), {"user": {}}]}),
]


def enc(event, payload):
    return bytes([EVENTS.index(event)]) + json.dumps(payload).encode()


def main():
    out = "corpus/cache_events"
    os.makedirs(out, exist_ok=True)
    guild = enc("GUILD_CREATE", GUILD)
    for event, payload in SEEDS.items():
        with open(os.path.join(out, f"seed-{event.lower()}"), "wb") as f:
            f.write(guild + b"\0" + enc(event, payload))
    rest = [enc(e, p) for e, p in SEEDS.items() if e not in ("READY", "GUILD_CREATE")]
    with open(os.path.join(out, "seed-everything"), "wb") as f:
        f.write(b"\0".join([enc("READY", SEEDS["READY"]), guild, *rest, guild]))
    for i, (event, payload) in enumerate(BAD):
        with open(os.path.join(out, f"seed-bad-{i}"), "wb") as f:
            f.write(guild + b"\0" + enc("MESSAGE_CREATE", msg(1000, "m")) + b"\0" + enc(event, payload))


if __name__ == "__main__":
    main()
