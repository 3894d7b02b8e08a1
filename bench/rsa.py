"""The second baseline: RSA2 (SHA256withRSA, PKCS#1 v1.5, 2048-bit) signatures/s on all cores.

Every CreatePayment on an Alipay channel signs one order string, so this rate is a hard ceiling for
CreatePayment calls/s on this machine, whatever the rest of the gateway costs. One spawned process per
core signs as fast as it can for the window (OpenSSL through `cryptography`, as the Alipay rail signs);
one more process signs alone first, so the table can show one core's rate beside all cores'.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Any

from bench.echo import ORDER_STRING_BYTES


@dataclass(frozen=True)
class SignRate:
    processes: int
    per_second: float  # all processes together
    one_core_per_second: float  # one process alone
    ms_per_signature: float  # one core's CPU per signature

    def as_dict(self) -> dict[str, float]:
        return {"processes": self.processes, "signatures_per_second": round(self.per_second, 1),
                "one_core_signatures_per_second": round(self.one_core_per_second, 1),
                "ms_per_signature": round(self.ms_per_signature, 3)}


def _sign_for(seconds: float, ready: Any, results: Any) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # made here, never stored
    pad, digest = padding.PKCS1v15(), hashes.SHA256()
    content = b"app_id=2021000000000000&biz_content=".ljust(ORDER_STRING_BYTES, b"x")
    ready.wait()  # every process starts its window together, once all have their keys
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        key.sign(content + str(done).encode(), pad, digest)
        done += 1
    results.put(done)


def _run(seconds: float, processes: int) -> int:
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_sign_for, args=(seconds, ready, results), name=f"rsa2-{i}")
               for i in range(processes)]
    for w in workers:
        w.start()
    try:
        return sum(results.get(timeout=seconds + 60) for _ in workers)
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.terminate()


def signatures_per_second(seconds: float, processes: int | None = None) -> SignRate:
    processes = processes or os.cpu_count() or 1
    one = _run(seconds, 1) / seconds
    return SignRate(processes, _run(seconds, processes) / seconds, one, 1000.0 / one if one else float("nan"))
