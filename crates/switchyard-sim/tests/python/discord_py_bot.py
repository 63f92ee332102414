"""A discord.py bot run against the fake Discord by tests/discord_py.rs.

Usage: discord_py_bot.py <port> <channel_id> <zlib|zstd>

It logs in, waits for READY, sets a presence (op 3) and looks itself up by user id (op 8),
asks the sim (control API) to post a user's "!ping" in the channel, answers it with a reply,
and exits 0 once it has seen its own reply arrive over the gateway. Exit code 3 means discord.py (or zstandard for the zstd run) is not installed.
"""

import asyncio
import json
import sys
import urllib.request

port, channel_id, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
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

base = f"http://127.0.0.1:{port}"
discord.http.Route.BASE = f"{base}/api/v10"
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/")

intents = discord.Intents.default()
intents.message_content = True
client = discord.Client(intents=intents)
result = {"got_ping": False, "saw_own_reply": False}


def control(path, body):
    req = urllib.request.Request(f"{base}/_sim/{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@client.event
async def on_ready():
    print(f"READY as {client.user} ({client.user.id}) in {len(client.guilds)} guilds", flush=True)
    # gateway commands as discord.py sends them: op 3 (with "since": 0.0) and op 8 by user id
    await client.change_presence(activity=discord.Game("tests"), status=discord.Status.dnd)
    guild = client.get_channel(channel_id).guild
    found = await guild.query_members(user_ids=[client.user.id])
    print(f"QUERIED_MEMBERS {[m.id for m in found] == [client.user.id]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, control, "events", {"type": "message", "channel_id": str(channel_id), "content": "!ping"})


@client.event
async def on_message(message):
    if message.author.id == client.user.id:
        if message.content == "pong" and message.reference is not None:
            result["saw_own_reply"] = True
            print("SAW_OWN_REPLY", flush=True)
        return
    if message.content == "!ping":
        result["got_ping"] = True
        print(f"GOT_PING from {message.author} in #{message.channel}", flush=True)
        # sent twice with one nonce (discord.py sets enforce_nonce): Discord creates it once
        nonce = f"pong-{message.id}"
        first = await message.reply("pong", nonce=nonce)
        again = await message.reply("pong", nonce=nonce)
        pongs = [m.id async for m in message.channel.history(limit=50) if m.content == "pong"]
        if first.id == again.id and pongs == [first.id]:
            print("NONCE_ENFORCED", flush=True)
        else:
            print(f"NONCE_NOT_ENFORCED: {first.id} then {again.id}, history {pongs}", flush=True)
        for _ in range(100):
            if result["saw_own_reply"]:
                break
            await asyncio.sleep(0.1)
        await client.close()


async def main():
    async with client:
        try:
            await asyncio.wait_for(client.start("discord-py-token"), timeout=45)
        except asyncio.TimeoutError:
            print("TIMEOUT", flush=True)


asyncio.run(main())
sys.exit(0 if result["got_ping"] and result["saw_own_reply"] else 1)
