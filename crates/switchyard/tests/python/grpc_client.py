"""A Python gRPC client generated from Switchyard's published protos with grpcio-tools, as
docs/grpc.md tells a user to make one: a cache read, a REST call and a typed REST failure.

Usage: grpc_client.py PROTO_DIR ADDRESS TOKEN GUILD_ID USER_ID CHANNEL_ID
Exits non-zero (with the reason) when an answer is not what Discord's state says.
"""

import json
import pathlib
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

PROTOS = ["switchyard/v1/control.proto", "switchyard/v1/cache.proto", "switchyard/v1/rest.proto"]


def generate(proto_dir: str) -> None:
    out = tempfile.mkdtemp(prefix="switchyard-grpc-py-")
    # grpc_tools ships the well-known protos (descriptor.proto, for jstype) with itself
    well_known = str(pathlib.Path(protoc.__file__).parent / "_proto")
    code = protoc.main(
        ["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}"]
        + PROTOS
    )
    if code != 0:
        sys.exit(f"grpc_tools.protoc failed with {code}")
    sys.path.insert(0, out)


def main() -> None:
    proto_dir, address, token, guild, user, channel_id = sys.argv[1:7]
    generate(proto_dir)
    from switchyard.v1 import cache_pb2, cache_pb2_grpc, control_pb2, control_pb2_grpc, rest_pb2, rest_pb2_grpc

    auth = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(address) as channel:
        bots = control_pb2_grpc.ControlStub(channel).ListBots(control_pb2.ListBotsRequest(), metadata=auth).bots
        assert len(bots) == 1 and bots[0].total == 1, bots

        cache = cache_pb2_grpc.CacheStub(channel)
        member = None
        for _ in range(600):  # the shard's cache fills once it is ready
            try:
                member = cache.Read(
                    cache_pb2.ReadRequest(member=cache_pb2.MemberRef(guild=int(guild), user=int(user))),
                    metadata=auth,
                )
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.1)
        assert member is not None, "the guild's shard cache never became ready"
        assert json.loads(member.json)["user"]["id"] == user, member.json
        try:
            cache.Read(cache_pb2.ReadRequest(member=cache_pb2.MemberRef(guild=int(guild), user=1)), metadata=auth)
            sys.exit("an unknown member was found")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
            assert dict(e.trailing_metadata()).get("x-switchyard-discord-code") == "10007", e.trailing_metadata()

        rest = rest_pb2_grpc.RestStub(channel)
        reply = rest.CreateMessage(
            rest_pb2.CreateMessageRequest(channel_id=int(channel_id), content="hello from Python over gRPC"),
            metadata=auth,
        )
        assert reply.WhichOneof("outcome") == "ok", reply
        assert json.loads(reply.ok.body)["content"] == "hello from Python over gRPC", reply.ok.body
        missing = rest.GetChannel(rest_pb2.ChannelTarget(channel_id=4242424242), metadata=auth)
        assert missing.WhichOneof("outcome") == "failed", missing
        assert missing.failed.WhichOneof("kind") == "not_found", missing
        assert missing.failed.not_found.code == 10003, missing
    print("OK")


if __name__ == "__main__":
    main()
