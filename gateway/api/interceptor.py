"""One server interceptor for every call: request id, authentication, error mapping, metrics, access log.

Doing all of it in one wrapper (built once per method, then cached) keeps the per-call cost to a few
microseconds; no Python traceback ever reaches a client.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from gateway.api.request_checks import check_request, tolerant_deserializer
from gateway.api.status import internal_status, status_code_for, to_status
from gateway.domain.errors import CashierError, FieldViolation, InvalidArgument, PermissionDenied
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.logs import request_id_var
from gateway.metrics import Metrics
from gateway.service.auth import Authenticator

principal_var: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")
log = logging.getLogger("cashier.rpc")

# Which credentials each service accepts; anything else (health, reflection) is open. MerchantService takes
# both: its servicer decides per method (an app reads the merchants it acts for and the application square;
# everything else needs an operator, gateway/api/merchant_servicer.py).
SERVICE_PRINCIPALS: dict[str, frozenset[PrincipalKind]] = {
    "cashier.v1.CashierService": frozenset({PrincipalKind.APP}),
    "cashier.v1.MerchantService": frozenset({PrincipalKind.APP, PrincipalKind.OPERATOR}),
    # Apps read their merchants' balances, payouts and statements; RunSettlement and other merchants' reads
    # are refused per method (gateway/api/settlement_servicer.py).
    "cashier.v1.SettlementService": frozenset({PrincipalKind.APP, PrincipalKind.OPERATOR}),
}


# A client's x-request-id is echoed and logged only when it is a sane token; otherwise one is made up.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Headers whose meaning would be ambiguous if sent twice.
SINGLE_HEADERS = ("authorization", "idempotency-key")


def current_principal() -> Principal:
    return principal_var.get()


class CashierInterceptor(grpc.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, metrics: Metrics):
        self.authenticator = authenticator
        self.metrics = metrics
        self._wrapped: dict[str, grpc.RpcMethodHandler | None] = {}

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        if method in self._wrapped:
            return self._wrapped[method]
        handler = continuation(details)
        service, _, name = method.lstrip("/").partition("/")
        required = SERVICE_PRINCIPALS.get(service)
        if handler is None or required is None:
            return handler  # health, reflection, unknown methods: untouched, not cached
        deserializer = tolerant_deserializer(handler.request_deserializer, _input_type(method))
        if handler.unary_unary is None:
            return self._wrap_streaming(method, handler, name, required, deserializer)
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, name, required),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, behavior: Callable[[Any, grpc.ServicerContext], Any], name: str,
              required: frozenset[PrincipalKind]) -> Callable[[Any, grpc.ServicerContext], Any]:
        authenticate = self.authenticator.authenticate
        observe = self.metrics.observe_rpc

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            pairs = context.invocation_metadata()
            metadata = dict(pairs)
            request_id = _request_id(metadata.get("x-request-id"))
            id_token = request_id_var.set(request_id)
            code = grpc.StatusCode.OK
            principal_id = ""
            try:
                context.send_initial_metadata((("x-request-id", request_id),))
                principal = _principal(authenticate, metadata, name, required)
                principal_id = principal.id
                _check(request, pairs)
                principal_token = principal_var.set(principal)
                try:
                    return behavior(request, context)
                finally:
                    principal_var.reset(principal_token)
            except CashierError as exc:
                code = status_code_for(exc)
                context.abort_with_status(to_status(exc))
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", name, extra={"method": name})
                context.abort_with_status(internal_status(request_id))
            finally:
                _measure(observe, name, code, started, principal_id)
                request_id_var.reset(id_token)

        return call

    def _wrap_streaming(self, method: str, handler: grpc.RpcMethodHandler, name: str,
                        required: frozenset[PrincipalKind], deserializer: Callable[[bytes], Any] | None
                        ) -> grpc.RpcMethodHandler | None:
        """A server-streaming method is wrapped like a unary one. A client-streaming method would reach its
        servicer unauthenticated, so it is refused (UNIMPLEMENTED) until this learns to wrap it."""
        wrapped = None
        if handler.unary_stream is not None:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, name, required),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        else:
            log.error("refusing %s: the interceptor cannot authenticate client-streaming calls", name,
                      extra={"method": name})
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap_stream(self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], name: str,
                     required: frozenset[PrincipalKind]) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        """`_wrap` for a server-streaming method. Errors before or between messages become the call's status;
        the call is measured and logged once, when the stream ends: CANCELLED or DEADLINE_EXCEEDED when the
        client left first."""
        authenticate = self.authenticator.authenticate
        observe = self.metrics.observe_rpc

        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            pairs = context.invocation_metadata()
            metadata = dict(pairs)
            request_id = _request_id(metadata.get("x-request-id"))
            id_token = request_id_var.set(request_id)
            code = grpc.StatusCode.OK
            principal_id = ""
            try:
                context.send_initial_metadata((("x-request-id", request_id),))
                principal = _principal(authenticate, metadata, name, required)
                principal_id = principal.id
                _check(request, pairs)
                principal_token = principal_var.set(principal)
                try:
                    yield from behavior(request, context)
                finally:
                    principal_var.reset(principal_token)
                if not context.is_active():
                    code = _gone(context)
            except GeneratorExit:  # the server stopped iterating: the client is gone
                code = _gone(context)
                raise
            except CashierError as exc:
                code = status_code_for(exc)
                context.abort_with_status(to_status(exc))
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", name, extra={"method": name})
                context.abort_with_status(internal_status(request_id))
            finally:
                _measure(observe, name, code, started, principal_id)
                request_id_var.reset(id_token)

        return stream


def _input_type(method: str) -> str:
    try:
        return descriptor_pool.Default().FindMethodByName(method.lstrip("/").replace("/", ".")).input_type.full_name
    except KeyError:
        return "request message"


def _request_id(sent: str | bytes | None) -> str:
    return sent if isinstance(sent, str) and _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _check(request: Any, metadata: Any) -> None:
    """The rules every call keeps before its servicer runs (see request_checks): a request it can read,
    and each of SINGLE_HEADERS at most once."""
    names = [key for key, _ in metadata or ()]
    twice = [h for h in SINGLE_HEADERS if names.count(h) > 1]
    if twice:
        raise InvalidArgument([FieldViolation(h, "metadata must be sent at most once") for h in twice])
    check_request(request)


def _principal(authenticate: Callable[[str | None], Principal], metadata: dict[str, Any], name: str,
               required: frozenset[PrincipalKind]) -> Principal:
    """Who calls, from the bearer key; refused unless of a kind the service accepts (app, operator or both)."""
    principal = authenticate(_bearer(metadata.get("authorization")))
    if principal.kind not in required:
        needed = " or ".join(sorted(kind.value.lower() for kind in required))
        raise PermissionDenied(
            f"{principal.kind.value.lower()} credentials cannot call {name}; "
            f"it needs {needed} credentials", reason="WRONG_CREDENTIALS")
    return principal


def _measure(observe: Callable[[str, str, float], None], name: str, code: grpc.StatusCode, started: float,
             principal_id: str) -> None:
    """One metric and, at INFO, one access-log line per call (per stream, when it ends)."""
    seconds = time.perf_counter() - started
    observe(name, code.name, seconds)
    if log.isEnabledFor(logging.INFO):
        log.info("rpc", extra={"method": name, "code": code.name, "ms": round(seconds * 1000, 3),
                               "principal": principal_id})


def _gone(context: grpc.ServicerContext) -> grpc.StatusCode:
    remaining = context.time_remaining()
    return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED


def _bearer(value: str | bytes | None) -> str | None:
    if not value or not isinstance(value, str):  # bytes only for `-bin` keys, which this is not
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
