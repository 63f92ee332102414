"""Does nats-server keep acknowledged key-value writes when it is killed with SIGKILL?

RELIABILITY.md, finding 6. No Switchyard code runs here: a private nats-server with a
key-value bucket configured as Switchyard's (one message per key, file storage, direct get),
written the way the session saver writes it (six keys, each rewritten every 10 ms by two
writers with compare-and-set, six lease keys, 1.2 MB cache snapshots now and then) beside a
stream taking 1,000 events/s, while the server is killed with SIGKILL and started again.
After each restart, every key's last acknowledged revision must still be readable.

    python3 -m venv /tmp/nats-py && /tmp/nats-py/bin/pip install nats-py
    /tmp/nats-py/bin/python docs/repro/nats_kv_kill.py --seconds 40 [--server PATH]

Exits 1 when an acknowledged write was lost (and prints which), 0 otherwise. It does not
fail every time: on nats-server 2.9.10 (Debian 12) 1 run of 12 lost writes (its first
version, 6 of 15); on 2.10.26 none of 15. Loop it (`--seed` changes when the kills fall).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

import nats
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import KeyNotFoundError

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--seconds", type=int, default=40)
ARGS.add_argument("--seed", type=int, default=99)
ARGS.add_argument("--server", default="nats-server", help="the nats-server binary")
ARGS.add_argument("--dir", default=None, help="where the server keeps its files (kept)")


class Server:
    """A private nats-server -js on a free port, its files and log under `dir`."""

    def __init__(self, binary, directory):
        self.binary, self.dir = binary, directory
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(os.path.join(directory, "nats-server.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-sd", os.path.join(self.dir, "data"), "-a", "127.0.0.1",
             "-p", str(self.port)], stdout=self.log, stderr=self.log)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Ledger:
    """The last acknowledged revision of each key, and what went missing."""

    def __init__(self):
        self.acked, self.lost, self.writes = {}, [], 0

    def ack(self, key, revision):
        self.writes += 1
        if self.acked.get(key, 0) < revision:
            self.acked[key] = revision


async def writer(kv, key, ledger):
    while True:
        try:
            try:
                revision = (await kv.get(key)).revision
            except KeyNotFoundError:
                revision = None
            value = json.dumps({"at": time.time(), "pad": "x" * 150}).encode()
            if revision is None:
                ledger.ack(key, await kv.create(key, value))
            else:
                ledger.ack(key, await kv.update(key, value, last=revision))
        except Exception:  # the server is down or a writer raced: write again
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.01)


async def snapshots(kv, key):
    slot = 0
    while True:
        await asyncio.sleep(random.uniform(5, 20))
        slot ^= 1
        try:
            for n in range(3):
                await kv.put(f"caches.{key}.{slot}.{n}", os.urandom(400 * 1024))
            await kv.put(f"caches.{key}", json.dumps({"slot": slot}).encode())
        except Exception:
            pass


async def events(js):
    while True:
        try:
            await asyncio.gather(*[js.publish(f"ev.{random.randrange(6)}", os.urandom(600))
                                   for _ in range(20)])
        except Exception:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.02)


async def check(kv, ledger, when):
    for key, revision in sorted(ledger.acked.items()):
        try:
            found = (await kv.get(key)).revision
            if found < revision:
                ledger.lost.append((when, key, revision, found))
        except KeyNotFoundError:
            ledger.lost.append((when, key, revision, None))
        except Exception as e:  # not a loss: the server is not answering yet
            print(f"{when}: {key}: {e!r}", flush=True)


async def main(args):
    random.seed(args.seed)
    directory = args.dir or tempfile.mkdtemp(prefix="nats-kv-kill-")
    os.makedirs(directory, exist_ok=True)
    server = Server(args.server, directory)
    server.start()
    await asyncio.sleep(0.5)
    nc = await nats.connect(f"nats://127.0.0.1:{server.port}", max_reconnect_attempts=-1,
                            reconnect_time_wait=0.05)
    js = nc.jetstream(timeout=2)
    await js.add_stream(StreamConfig(
        name="KV_repro", subjects=["$KV.repro.>"], max_msgs_per_subject=1,
        allow_rollup_hdrs=True, deny_delete=True, allow_direct=True,
        discard=DiscardPolicy.NEW, storage=StorageType.FILE))
    await js.add_stream(StreamConfig(name="EV", subjects=["ev.>"], storage=StorageType.FILE))
    kv = await js.key_value("repro")
    ledger = Ledger()
    tasks = [asyncio.create_task(events(js))]
    for shard in range(6):
        key = f"sessions.bot.{shard}.6"
        tasks += [asyncio.create_task(writer(kv, key, ledger)) for _ in range(2)]
        tasks.append(asyncio.create_task(writer(kv, f"leases.bot.{shard}", ledger)))
        tasks.append(asyncio.create_task(snapshots(kv, key)))
    end, kills = time.time() + args.seconds, 0
    while time.time() < end:
        # now and then a burst of kills a few seconds apart, as in the soak that found it
        burst = random.random() < 0.2
        for wait in [random.uniform(3, 15) for _ in range(4)] if burst else [random.uniform(5, 40)]:
            await asyncio.sleep(wait)
            server.kill()
            kills += 1
            await asyncio.sleep(random.uniform(0.0, 1.0))
            server.start()
            for _ in range(200):
                await asyncio.sleep(0.05)
                if nc.is_connected:
                    break
            await asyncio.sleep(0.3)
            await check(kv, ledger, f"after kill {kills}")
    for task in tasks:
        task.cancel()
    await check(kv, ledger, "at the end")
    server.kill()
    print(f"nats-server at {args.server}: {kills} kills, {ledger.writes} acknowledged writes, "
          f"{len(ledger.lost)} lost; files and log in {directory}")
    for when, key, revision, found in ledger.lost:
        print(f"  {when}: {key}: acknowledged revision {revision}, the server has {found}")
    return 1 if ledger.lost else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(ARGS.parse_args())))
