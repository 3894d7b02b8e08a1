"""`idempotency-key` on every RPC that changes something: a servicer method declares it with `@idempotent`.

The adapter's side of gateway/service/idempotency.py: it reads the header, scopes the key to the caller and to
the merchant the request names, fingerprints the request (the RPC's full name and the SHA-256 of its
deterministic encoding), answers a retry with the stored answer (parsed from the bytes stored when it was first
sent: the resource as it was then; a Get shows the present), refuses a different request under the same key,
and stores the answer once the call returns. Errors store nothing: a use case that began to act and then
failed left its claim without an answer, which a retry rebuilds with `rebuild` (or answers "in progress").

A writing RPC added later (merchant onboarding, settlement) gets all of this by declaring it:

    @idempotent(scope="parent", rebuild=...)          # scope: the field naming the merchant, if any
    def SubmitApplication(self, request, context): ...

and by calling gateway.service.idempotency.claim() first in the transaction where its use case acts.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from gateway.api.interceptor import current_principal
from gateway.domain.errors import FieldViolation, InvalidArgument
from gateway.domain.validation import MERCHANT_ID
from gateway.service.idempotency import (
    ClaimedBefore,
    IdempotencyService,
    IdempotentCall,
    calling,
    in_progress,
)
from gateway.service.ports import IdempotencyRecord

IDEMPOTENCY_HEADER = "idempotency-key"
_KEY_RULE = "metadata must be 1-255 printable ASCII characters"
_MERCHANT = re.compile(r"merchants/([^/]+)(?:/|$)")

# Every declared RPC by full name (cashier.v1.CashierService.ClosePayment), for the docs and the tests.
IDEMPOTENT_METHODS: set[str] = set()

S = TypeVar("S")
Q = TypeVar("Q", bound=Message)
R = TypeVar("R", bound=Message)
# A servicer method: (servicer, request, context) → response; the decorated one keeps its types.
Behavior = Callable[[S, Q, grpc.ServicerContext], R]
# (servicer, request, record without an answer) → the answer to replay, or None while the call is in progress.
Rebuild = Callable[[Any, Any, IdempotencyRecord], Message | None]


def idempotent(service: str, *, scope: str | None = None, rebuild: Rebuild | None = None
               ) -> Callable[[Behavior[S, Q, R]], Behavior[S, Q, R]]:
    """Declare a servicer method of `service` (its full name) as honouring `idempotency-key`. `scope`: the
    request field holding a resource name that begins with the merchant (`parent`, `name`), or None when the
    request names no merchant. `rebuild`: the answer from a record whose call acted but stored no answer
    (None: such a record is "in progress"). The servicer has `idempotency`, an IdempotencyService."""

    def declare(behavior: Behavior[S, Q, R]) -> Behavior[S, Q, R]:
        method = f"{service}.{behavior.__name__}"
        response_class = message_factory.GetMessageClass(
            descriptor_pool.Default().FindMethodByName(method).output_type)
        IDEMPOTENT_METHODS.add(method)

        @functools.wraps(behavior)
        def call(self: S, request: Q, context: grpc.ServicerContext) -> R:
            key = _key(context)
            merchant_id = _merchant_scope(request, scope)
            if key is None or merchant_id is None:
                # No key; or a name that names no merchant, which the servicer refuses as INVALID_ARGUMENT.
                return behavior(self, request, context)
            idempotency: IdempotencyService = self.idempotency  # type: ignore[attr-defined]
            digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
            this = IdempotentCall(current_principal(), merchant_id, key, method, digest)
            try:
                earlier = idempotency.earlier(this)
                if earlier is None:
                    with calling(this):
                        response = behavior(self, request, context)
                    idempotency.store(this, response.SerializeToString(deterministic=True))
                    return response
            except ClaimedBefore as claimed:  # a copy of this call acted first (it may still be running)
                earlier = claimed.record
                idempotency.check(this, earlier)
            # `response_class` is the method's output type (from the descriptor pool), which R stands for.
            if earlier.response is not None:
                return cast(R, response_class.FromString(earlier.response))
            rebuilt = rebuild(self, request, earlier) if rebuild is not None else None
            if rebuilt is None:
                raise in_progress(earlier)
            idempotency.store(this, rebuilt.SerializeToString(deterministic=True))
            return cast(R, rebuilt)

        return call

    return declare


def _key(context: grpc.ServicerContext) -> str | None:
    """The idempotency-key header (the interceptor refuses it sent twice), or None."""
    for name, value in context.invocation_metadata():
        if name == IDEMPOTENCY_HEADER:
            if not isinstance(value, str) or not 1 <= len(value) <= 255 or not value.isprintable() \
                    or not value.isascii():
                raise InvalidArgument([FieldViolation(IDEMPOTENCY_HEADER, _KEY_RULE)])
            return str(value)
    return None


def _merchant_scope(request: Any, field: str | None) -> str | None:
    """The merchant id the request's `field` names; "" for a request that names none; None when the name is
    malformed (the servicer refuses it with the field named, before it acts)."""
    if field is None:
        return ""
    match = _MERCHANT.match(getattr(request, field))
    if match is None or not MERCHANT_ID.fullmatch(match.group(1)):
        return None
    return match.group(1)
