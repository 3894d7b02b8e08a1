"""`python -m spikes.aio.echo [--sign]`: bench/echo.py's baseline on `grpc.aio`, one event loop: every unary
method answers with the request's bytes (or, with `--sign`, with one RSA2 signature over them, made on the
loop). What `grpc.aio` itself allows on this machine with the bench's client, for the spike's figures."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import grpc

from bench.echo import ORDER_STRING_BYTES, _identity, _signer


class _AnyMethod(grpc.GenericRpcHandler):
    def __init__(self, sign: bool) -> None:
        signer = _signer() if sign else None

        async def answer(request: bytes, context: Any) -> bytes:
            return signer(request, context) if signer is not None else request

        self.handler = grpc.unary_unary_rpc_method_handler(answer, request_deserializer=_identity,
                                                           response_serializer=_identity)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        return self.handler


async def serve(sign: bool) -> None:
    server = grpc.aio.server(handlers=[_AnyMethod(sign)], options=[("grpc.so_reuseport", 0)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    print(f"aio echo: gRPC on 127.0.0.1:{port}", flush=True)
    await stopping.wait()
    await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m spikes.aio.echo")
    parser.add_argument("--sign", action="store_true", help=f"one RSA2 signature per call ({ORDER_STRING_BYTES} bytes)")
    asyncio.run(serve(parser.parse_args().sign))


if __name__ == "__main__":
    main()
