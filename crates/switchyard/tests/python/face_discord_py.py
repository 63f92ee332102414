"""A discord.py bot run against Switchyard's face by tests/face_clients_cli.rs.

Usage: face_discord_py.py <face_port> <sim_port> <face_token> <channel_id> <member_id>
                          <guilds> <streamed> <zlib|zstd>

It logs in through the face (REST and gateway both pointed at it, with the face's token),
checks that it holds all <guilds> guilds, chunks the channel's guild and looks up
<member_id> by id (op 8), asks the fake Discord (its control API) for a user's "!ping" and
answers it with "pong" through the face's REST. Then it asks the fake for <streamed> user
messages at a steady rate, drops its gateway connection (close 4000: discord.py resumes)
after the first few, has the fake send five more before it can reconnect, and prints every id the fake created ("SENT") and every message it
received ("SAW"), each time it received one, for the test to compare.

Exit code 3: discord.py (or zstandard, for the zstd run) is not installed.
"""

import asyncio
import json
import logging
import sys
import threading
import time
import urllib.request

(face_port, sim_port, face_token, channel_id, member_id, want_guilds, streamed, mode) = sys.argv[1:9]
face_port, sim_port, channel_id, member_id = int(face_port), int(sim_port), int(channel_id), int(member_id)
want_guilds, streamed = int(want_guilds), int(streamed)
if mode == "zlib":
    # discord.py picks zstd-stream whenever zstandard is importable; hide it for this run.
    sys.modules["zstandard"] = None
else:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        print("MISSING: the zstd run needs the Python package 'zstandard' (pip install zstandard)", file=sys.stderr)
        sys.exit(3)

try:
    import discord
    import yarl
except ImportError as e:
    print(f"MISSING: discord.py is not installed ({e}); pip install discord.py", file=sys.stderr)
    sys.exit(3)

expected = "zlib-stream" if mode == "zlib" else "zstd-stream"
active = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
if active != expected:
    print(f"discord.py would use {active}, expected {expected}", file=sys.stderr)
    sys.exit(2)

# discord.py's INFO log says "has successfully RESUMED session" on a resume
discord.utils.setup_logging(level=logging.INFO)

face = f"127.0.0.1:{face_port}"
discord.http.Route.BASE = f"http://{face}/api/v10"
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://{face}/")

intents = discord.Intents.default()
intents.message_content = True
intents.members = True
client = discord.Client(intents=intents, chunk_guilds_at_startup=False)

state = {"pong": None, "resumed": False, "failed": []}
own = set()
sent, saw = [], []
seen_enough = asyncio.Event()


def say(*parts):
    print(*parts, flush=True)


def fail(why):
    state["failed"].append(why)
    say("FAILED", why)


def inject(content):
    """A user's message in the channel, created by the fake Discord: its id."""
    body = json.dumps({"type": "message", "channel_id": str(channel_id), "content": content}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{sim_port}/_sim/events", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["id"])


def stream():
    """The fake sends user messages at a steady rate (20 a second), whatever the bot does."""
    for i in range(streamed):
        sent.append(inject(f"stream {i}"))
        time.sleep(0.05)


async def until(check, secs, what):
    deadline = time.monotonic() + secs
    while not check():
        if time.monotonic() > deadline:
            fail(f"{what} did not happen in {secs} s")
            return False
        await asyncio.sleep(0.05)
    return True


async def scenario():
    say(f"READY as {client.user.id} in {len(client.guilds)} guilds")
    if len(client.guilds) != want_guilds or any(g.unavailable for g in client.guilds):
        fail(f"guilds: {[(g.id, g.unavailable) for g in client.guilds]}, want {want_guilds} available")
    guild = client.get_channel(channel_id).guild
    members = await guild.chunk()
    say(f"CHUNKED {len(members)} of {guild.member_count}")
    found = await guild.query_members(user_ids=[member_id])
    say("QUERIED", " ".join(str(m.id) for m in found))

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, inject, "!ping")
    await until(lambda: state["pong"] in own, 30, "the pong coming back")
    say("SAW_OWN_PONG")

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    await asyncio.wait_for(seen_enough.wait(), 30)
    # a dropped connection in mid-stream: discord.py reconnects and RESUMEs
    say("DROPPING")
    started = time.monotonic()
    await client.ws.close(code=4000)
    say(f"CLOSED in {time.monotonic() - started:.3f} s")
    # the connection is closed; with the event loop held, discord.py cannot reconnect
    # before these exist: they can only reach it through the RESUME's replay
    gap = [inject(f"stream gap {i}") for i in range(5)]
    sent.extend(gap)
    say("GAP", " ".join(map(str, gap)))
    await until(lambda: not thread.is_alive(), 60, "the stream ending")
    await until(lambda: len(set(saw)) >= len(sent), 30, "every streamed message arriving")
    await until(lambda: state["resumed"], 30, "the resume")
    # late duplicates would come right behind the last message
    await asyncio.sleep(0.5)
    say("SENT", " ".join(map(str, sent)))
    say("SAW", " ".join(map(str, saw)))


@client.event
async def on_ready():
    try:
        await scenario()
    except Exception as e:  # noqa: BLE001
        fail(f"{type(e).__name__}: {e}")
    finally:
        await client.close()


@client.event
async def on_resumed():
    state["resumed"] = True
    say("RESUMED_EVENT")


@client.event
async def on_message(message):
    if message.author.id == client.user.id:
        own.add(message.id)
        return
    if message.content == "!ping":
        say(f"GOT_PING {message.id}")
        reply = await message.channel.send("pong")
        state["pong"] = reply.id
        say(f"SENT_PONG {reply.id}")
    elif message.content.startswith("stream "):
        saw.append(message.id)
        if len(saw) == 10:
            seen_enough.set()


async def main():
    async with client:
        try:
            await asyncio.wait_for(client.start(face_token), timeout=120)
        except asyncio.TimeoutError:
            fail("TIMEOUT")


asyncio.run(main())
sys.exit(1 if state["failed"] else 0)
