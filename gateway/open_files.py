"""The worker's open-file budget, shared by both faces: each bounds its connections so that together, with a
reserve for everything else, they fit the process's open-file limit and `accept()` never fails with EMFILE.

Here rather than in either face, so that neither face imports the other: the gRPC face's share is what the
HTTP face leaves (gateway/api/server.py), the HTTP face's is computed first (gateway/web/server.py).
"""

from __future__ import annotations

import logging
import resource

from gateway.config import ServerSettings

# Each warning under the logger of the face it concerns, as before the budget moved here.
_http_log = logging.getLogger("cashier.http")
_grpc_log = logging.getLogger("cashier.grpc")

#: Connections asyncio accepts in one go (uvicorn's `backlog` is also the accept loop's batch): the cap
#: acts only once they are handed to the protocol, so the descriptor budget keeps room for two batches.
ACCEPT_BATCH = 100
#: Descriptors kept for everything else in a worker: database connections, gRPC's connections, logs,
#: the operations listener, the interpreter's own files.
DESCRIPTOR_RESERVE = 256
#: What a worker may raise its soft open-file limit to when the hard limit is unlimited.
SOFT_LIMIT_CEILING = 1 << 20


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = SOFT_LIMIT_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return SOFT_LIMIT_CEILING if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def http_connection_budget(wanted: int) -> int:
    """`wanted` HTTP connections, lowered to what the open-file limit allows after the reserve (at least 1)."""
    available = raise_open_file_limit() - DESCRIPTOR_RESERVE - 2 * ACCEPT_BATCH
    budget = max(1, min(wanted, available))
    if budget < wanted:
        _http_log.warning("http_max_connections lowered to fit the open-file limit",
                          extra={"configured": wanted, "effective": budget, "nofile": raise_open_file_limit()})
    return budget


def grpc_connection_budget(server: ServerSettings) -> int:
    """`grpc_max_connections`, lowered so that the gRPC face's connections, the HTTP face's (as
    http_connection_budget computes them), two accept batches and half of DESCRIPTOR_RESERVE (the database,
    logs, the interpreter's files) fit the open-file limit; at least 16."""
    nofile = raise_open_file_limit()
    http = max(1, min(server.http_max_connections, nofile - DESCRIPTOR_RESERVE - 2 * ACCEPT_BATCH))
    budget = max(16, min(server.grpc_max_connections, nofile - http - 2 * ACCEPT_BATCH - DESCRIPTOR_RESERVE // 2))
    if budget < server.grpc_max_connections:
        _grpc_log.warning("grpc_max_connections lowered to fit the open-file limit",
                          extra={"configured": server.grpc_max_connections, "effective": budget, "nofile": nofile})
    return budget
