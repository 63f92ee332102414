"""Sends numbered messages through a Switchyard REST proxy with discord.py's own HTTP client.

usage: send_messages.py BASE TOKEN CHANNEL PREFIX COUNT
Fires a message every 10 ms without waiting for the previous ones, prints one status line per
message ("sent n0-3", or "refused n0-3" when discord.py gave up on 429s), exits 3 when
discord.py is missing.
"""
import asyncio
import sys

try:
    import discord  # noqa: F401
    from discord.http import HTTPClient, Route
except ImportError as e:  # pragma: no cover
    print(f"discord.py missing: {e}", file=sys.stderr)
    sys.exit(3)


async def main(base, token, channel, prefix, count):
    Route.BASE = base
    http = HTTPClient(asyncio.get_running_loop())
    await http.static_login(token)

    async def send(i):
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel)
        try:
            msg = await http.request(route, json={"content": f"{prefix}-{i}"})
        except discord.HTTPException as e:
            if e.status != 429:
                raise
            # discord.py gave up after its 5 tries, each a retried 429
            return f"refused {prefix}-{i}"
        return f"sent {msg['content']}"

    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(send(i)))
        await asyncio.sleep(0.01)
    sent = await asyncio.gather(*tasks)
    for line in sent:
        print(line)
    await http.close()


if __name__ == "__main__":
    base, token, channel, prefix, count = sys.argv[1:6]
    asyncio.run(main(base, token, int(channel), prefix, int(count)))
