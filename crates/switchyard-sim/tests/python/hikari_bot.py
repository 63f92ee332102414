"""A hikari bot run against the fake Discord by tests/hikari.rs.

Usage: hikari_bot.py <port> <channel_id> [token]

The port serves the gateway and REST: the fake's, or the face's (with a face token).

hikari is stricter than discord.py about what it reads: it decodes the bot's id from the
token, asks for guilds `with_counts`, reads the application's install counts, and sends op 3
with the API's older `game` field. It logs in, sets a presence, asks for every member of
the channel's guild (op 8), reads the guild, its roles, the application and the bot's
guilds, searches members, sends a message and sees it arrive over the gateway, reacts to
it, edits it, sees the edit arrive, deletes it, and exits 0 with a line per step.
Exit code 3 means hikari is not installed.
"""

import asyncio
import base64
import sys

try:
    import hikari
except ImportError as e:
    print(f"MISSING: hikari is not installed ({e}); pip install hikari", file=sys.stderr)
    sys.exit(3)

port, channel_id = int(sys.argv[1]), int(sys.argv[2])
# a token shaped as Discord's: the bot's id in base64, a timestamp, an HMAC
default = base64.b64encode(b"1234567890123456789").decode().rstrip("=") + ".GhIjKl.abcdefghijklmnopqrstuvwxyz0123456"
token = sys.argv[3] if len(sys.argv) > 3 else default
head = token.split(".")[0]
user_id = int(base64.b64decode(head + "=" * (-len(head) % 4)))

bot = hikari.GatewayBot(
    token,
    rest_url=f"http://127.0.0.1:{port}/api/v10",
    # no GUILD_PRESENCES: the face serves the intents its gateway holds, as Discord serves the
    # privileged ones a bot is approved for
    intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS | hikari.Intents.MESSAGE_CONTENT,
    logs="WARNING",
    banner=None,
)
seen = {"created": asyncio.Event(), "edited": asyncio.Event()}
ok = []


def step(line):
    ok.append(line)
    print(line, flush=True)


@bot.listen(hikari.GuildMessageCreateEvent)
async def created(event):
    if event.author_id == bot.get_me().id and event.content == "hello from hikari":
        seen["created"].set()


@bot.listen(hikari.GuildMessageUpdateEvent)
async def edited(event):
    if event.author_id == bot.get_me().id and event.content == "edited":
        seen["edited"].set()


async def script():
    me = bot.get_me()
    step(f"READY {me.id == user_id}")
    channel = await bot.rest.fetch_channel(channel_id)
    guild_id = channel.guild_id
    await bot.update_presence(status=hikari.Status.DO_NOT_DISTURB, activity=hikari.Activity(name="tests"))
    await bot.request_guild_members(guild_id, query="", limit=0)
    for _ in range(50):
        if len(bot.cache.get_members_view_for_guild(guild_id)) > 1:
            break
        await asyncio.sleep(0.1)
    guild = await bot.rest.fetch_guild(guild_id)
    step(f"GUILD {guild.approximate_member_count is not None}")
    roles = await bot.rest.fetch_roles(guild_id)
    step(f"ROLES {len(roles) > 0}")
    app = await bot.rest.fetch_application()
    step(f"APPLICATION {app.id == me.id}")
    mine = [g async for g in bot.rest.fetch_my_guilds()]
    step(f"MY_GUILDS {any(g.id == guild_id for g in mine)}")
    member = next(m for m in bot.cache.get_members_view_for_guild(guild_id).values() if not m.is_bot)
    found = await bot.rest.search_members(guild_id, member.username[:3])
    step(f"SEARCH {any(m.id == member.id for m in found)}")
    message = await bot.rest.create_message(channel_id, "hello from hikari")
    await asyncio.wait_for(seen["created"].wait(), timeout=10)
    step("SAW_OWN_MESSAGE")
    await bot.rest.add_reaction(channel_id, message.id, "\N{THUMBS UP SIGN}")
    await bot.rest.edit_message(channel_id, message.id, "edited")
    await asyncio.wait_for(seen["edited"].wait(), timeout=10)
    step("SAW_EDIT")
    await bot.rest.delete_message(channel_id, message.id)
    step("DELETED")


@bot.listen(hikari.StartedEvent)
async def started(_):
    async def run():
        try:
            await script()
        except Exception as e:  # noqa: BLE001: reported, and the exit code says so
            print(f"FAILED: {e!r}", flush=True)
        await bot.close()

    asyncio.get_running_loop().create_task(run())


bot.run(check_for_updates=False, close_loop=True, enable_signal_handlers=False)
want = ["READY True", "GUILD True", "ROLES True", "APPLICATION True", "MY_GUILDS True",
        "SEARCH True", "SAW_OWN_MESSAGE", "SAW_EDIT", "DELETED"]
sys.exit(0 if ok == want else 1)
