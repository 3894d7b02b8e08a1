"""The baseline: a bare grpcio server that answers every unary call with the request's bytes.

It is built like the gateway's server (gateway/api/server.py and gateway/runtime.py): a
ThreadPoolExecutor of `server.threads` workers, `grpc.so_reuseport` on only when there are several
worker processes, and N spawned processes sharing one port. No protobuf, interceptor, database or
channel work happens, so its calls/s is what grpcio itself allows on this machine with this client.

With `--sign` it also makes one RSA2 signature per call (SHA256withRSA, PKCS#1 v1.5, a 2048-bit key
generated at start, over content as long as an app-pay order string) and answers with it: the least any
server must do for a CreatePayment that returns a signed Alipay order string. Its calls/s is the ceiling
that requirement alone leaves a server built this way.

Run by the bench as `python -m bench.echo --threads 16 --workers 1 [--sign]`; prints its port when ready.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import socket
import threading
from concurrent import futures
from typing import Any

import grpc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ORDER_STRING_BYTES = 600  # about what the mobile channel signs for an alipay.trade.app.pay order


def _identity(data: bytes) -> bytes:
    return data


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def _signer() -> Any:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pad, digest = padding.PKCS1v15(), hashes.SHA256()

    def sign(request: bytes, context: grpc.ServicerContext) -> bytes:
        # The request's bytes make every signed content differ, as every out_trade_no does.
        return key.sign(request.ljust(ORDER_STRING_BYTES, b"&"), pad, digest)

    return sign


class _AnyMethod(grpc.GenericRpcHandler):
    """Serves every method path, so the load generator can call the very path it calls on the gateway."""

    def __init__(self, sign: bool) -> None:
        self.handler = grpc.unary_unary_rpc_method_handler(
            _signer() if sign else _echo, request_deserializer=_identity, response_serializer=_identity)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        return self.handler


def _serve(port: int, threads: int, reuse_port: bool, sign: bool, ready: Any = None) -> None:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        handlers=[_AnyMethod(sign)],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server.start()
    if ready is not None:
        ready.send(bound)
    else:
        print(f"echo: gRPC on 127.0.0.1:{bound}", flush=True)
    stopping.wait()
    server.stop(0).wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sign", action="store_true", help="one RSA2 signature per call")
    args = parser.parse_args()
    if args.workers == 1:
        _serve(0, args.threads, reuse_port=False, sign=args.sign)
        return
    # Like the gateway's supervisor: hold a SO_REUSEPORT reservation of a concrete port, spawn (never
    # fork after gRPC started) workers that all bind it, forward SIGTERM to them.
    reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind(("127.0.0.1", 0))
    port = reservation.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    pipes = [ctx.Pipe(duplex=False) for _ in range(args.workers)]
    workers = [ctx.Process(target=_serve, args=(port, args.threads, True, args.sign, send), name=f"echo-worker-{i}")
               for i, (_recv, send) in enumerate(pipes)]
    for w in workers:
        w.start()
    for recv, _send in pipes:
        recv.recv()  # every worker is listening before the port is announced
    print(f"echo: gRPC on 127.0.0.1:{port}, {args.workers} workers", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        if not any(w.is_alive() for w in workers):
            break
    for w in workers:
        w.terminate()  # SIGTERM: each worker stops its server
    for w in workers:
        w.join(10)
    reservation.close()


if __name__ == "__main__":
    main()
