"""Issue 13 Done-when: a client that has only server reflection (its descriptors fetched over the wire,
not imported) walks every RPC with wrong requests: ≥ 400 refusals, none INTERNAL/UNKNOWN, no row changed."""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from gateway.runtime import RunningGateway
from tests.e2e.rpc_walk import invoke_raw, snapshot
from tests.e2e.test_fuzz_rpcs import FORBIDDEN
from tests.support import Tenant


def test_a_reflection_only_client_gets_no_internal_error_and_changes_nothing(
        server: RunningGateway, tenant: Tenant, grpc_channel: grpc.Channel) -> None:
    reflected = ProtoReflectionDescriptorDatabase(grpc_channel)
    pool = descriptor_pool.DescriptorPool(reflected)
    methods = [m for s in reflected.get_services() if s.startswith("cashier.") for m in pool.FindServiceByName(s).methods]
    before, refused = snapshot(server.gateway), 0
    for method in methods:
        bad = message_factory.GetMessageClass(method.input_type)()
        for field in method.input_type.fields:  # every scalar field out of range or malformed
            if field.type == field.TYPE_STRING and not field.is_repeated:
                setattr(bad, field.name, "\x00" + "x" * 300)
            elif field.type in (field.TYPE_ENUM, field.TYPE_INT32, field.TYPE_INT64) and not field.is_repeated:
                setattr(bad, field.name, -(2**31))
        for payload in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xc3\x28", b"\x08" + b"\xff" * 11,
                        bad.SerializeToString(), b""):
            for auth in ([("authorization", f"Bearer {tenant.key}")], []):
                code, details = invoke_raw(grpc_channel, method, payload, auth)
                assert code not in FORBIDDEN, (method.full_name, payload, code, details)
                refused += code != grpc.StatusCode.OK
    assert len(methods) >= 37 and refused >= 400, (len(methods), refused)
    assert snapshot(server.gateway) == before
