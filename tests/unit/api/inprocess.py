"""The gRPC face in process: the real servicers behind the real interceptor, served by grpc_testing.

What these tests cover is everything between the bytes and the database except the transport: the interceptor
(x-request-id, the bearer key resolved by the real Authenticator, the credential kind, request_checks, the
mapping of domain errors to a status with BadRequest and ErrorInfo), the servicers' decoding and encoding,
`@idempotent`, and the real services on a real SQLite database. HTTP/2, serialization and the thread pool are
grpc_testing's stand-in; the tests under tests/e2e cover those over the wire.

grpc_testing applies no interceptor, so each method is wrapped here exactly as grpc.server wraps it
(CashierInterceptor.intercept_service on the servicer's handler). grpc_testing's context leaves
abort_with_status unimplemented; _Context supplies it with the context's public set_code / set_details /
set_trailing_metadata, which is what grpcio's own abort_with_status amounts to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc
import grpc_testing
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.rpc import error_details_pb2, status_pb2

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import settlement_service_pb2 as spb
from gateway.api.interceptor import CashierInterceptor
from gateway.api.merchant_servicer import MerchantServicer
from gateway.api.servicers import CashierServicer
from gateway.api.settlement_servicer import SettlementServicer
from gateway.bootstrap import Gateway

CASHIER = svc.DESCRIPTOR.services_by_name["CashierService"]
MERCHANTS = msvc.DESCRIPTOR.services_by_name["MerchantService"]
SETTLEMENT = spb.DESCRIPTOR.services_by_name["SettlementService"]
TIMEOUT = 10.0  # seconds: a bound on every call, far above what one takes


class _Aborted(Exception):
    """Raised by _Context.abort_with_status, as grpcio raises from its own."""


class _Context:
    """grpc_testing's servicer context, with the abort_with_status it does not implement."""

    def __init__(self, context: grpc.ServicerContext):
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def abort_with_status(self, status: grpc.Status) -> None:
        self._context.set_trailing_metadata(status.trailing_metadata)
        self._context.set_code(status.code)
        self._context.set_details(status.details)
        raise _Aborted


class _CallDetails(NamedTuple):  # grpc.HandlerCallDetails
    method: str
    invocation_metadata: Sequence[tuple[str, str]]


def _unary(behaviour: Callable[[Any, Any], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request, _Context(context))
        except _Aborted:
            return None  # the status is set: grpc_testing ends the call with it

    return call


def _streaming(behaviour: Callable[[Any, Any], Iterator[Any]]) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behaviour(request, _Context(context))
        except _Aborted:
            return

    return call


def _intercepted(servicer: object, service: ServiceDescriptor, interceptor: CashierInterceptor) -> object:
    """An object with one attribute per RPC (what grpc_testing calls): the servicer's method behind the
    interceptor, as grpc.server would run it."""
    methods: dict[str, Any] = {}
    for method in service.methods:
        behaviour = getattr(servicer, method.name)
        if method.server_streaming:
            handler = grpc.unary_stream_rpc_method_handler(behaviour)
        else:
            handler = grpc.unary_unary_rpc_method_handler(behaviour)
        wrapped = interceptor.intercept_service(lambda _details, h=handler: h,
                                                _CallDetails(f"/{service.full_name}/{method.name}", ()))
        methods[method.name] = (_streaming(wrapped.unary_stream) if method.server_streaming
                                else _unary(wrapped.unary_unary))
    return type(f"Intercepted{service.name}", (), {name: staticmethod(m) for name, m in methods.items()})()


@dataclass
class Answer:
    """What a client would get: the response(s), the status, its rich details and the headers."""

    responses: list[Any]
    code: grpc.StatusCode
    details: str
    initial_metadata: dict[str, str]
    trailing_metadata: dict[str, Any]
    violations: list[tuple[str, str]] = field(default_factory=list)  # BadRequest, in order
    info: error_details_pb2.ErrorInfo | None = None

    @property
    def response(self) -> Any:
        assert self.code == grpc.StatusCode.OK, (self.code, self.details)
        return self.responses[0]

    @property
    def fields(self) -> list[str]:
        return [name for name, _ in self.violations]

    @property
    def reason(self) -> str:
        assert self.info is not None, (self.code, self.details)
        return self.info.reason


def _answer(responses: list[Any], initial: Any, trailing: Any, code: grpc.StatusCode, details: str) -> Answer:
    trailers = dict(trailing or ())
    answer = Answer(responses, code, details, dict(initial or ()), trailers)
    packed = trailers.get("grpc-status-details-bin")
    if packed is not None:
        status = status_pb2.Status.FromString(packed)
        assert status.code == code.value[0] and status.message == details
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                answer.violations = [(v.field, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                answer.info = error_details_pb2.ErrorInfo()
                detail.Unpack(answer.info)
    return answer


class InProcessApi:
    """Every service of one Gateway, called in process. `key` is the bearer key sent by default."""

    def __init__(self, gateway: Gateway):
        interceptor = CashierInterceptor(gateway.authenticator, gateway.metrics)
        self.server = grpc_testing.server_from_dictionary({
            CASHIER: _intercepted(CashierServicer(gateway), CASHIER, interceptor),
            MERCHANTS: _intercepted(MerchantServicer(gateway.onboarding, gateway.admin, gateway.idempotency), MERCHANTS,
                                    interceptor),
            SETTLEMENT: _intercepted(SettlementServicer(gateway.settlement), SETTLEMENT, interceptor),
        }, grpc_testing.strict_real_time())

    def call(self, method: MethodDescriptor, request: Any, key: str | None,
             metadata: Sequence[tuple[str, str]] = ()) -> Answer:
        sent = ((("authorization", f"Bearer {key}"),) if key is not None else ()) + tuple(metadata)
        if method.server_streaming:
            rpc = self.server.invoke_unary_stream(method, sent, request, TIMEOUT)
            trailing, code, details = rpc.termination()
            responses = []
            while True:
                try:
                    responses.append(rpc.take_response())
                except ValueError:  # "No more responses!"
                    break
        else:
            rpc = self.server.invoke_unary_unary(method, sent, request, TIMEOUT)
            response, trailing, code, details = rpc.termination()
            responses = [] if response is None else [response]
        return _answer(responses, rpc.initial_metadata(), trailing, code, details)


def refused(answer: Answer, code: grpc.StatusCode, reason: str) -> Answer:
    """The answer is a refusal with this code and ErrorInfo reason, in the cashier's error domain."""
    assert (answer.code, answer.reason) == (code, reason), (answer.code, answer.details, answer.info)
    assert answer.info is not None and answer.info.domain == "cashier.v1"
    assert answer.responses == []
    return answer


def invalid(answer: Answer) -> list[str]:
    """The fields an INVALID_ARGUMENT answer names, in order; each is in the message too."""
    refused(answer, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert answer.details.startswith("invalid request: ")
    for name, description in answer.violations:
        assert f"{name}: {description}" in answer.details or len(answer.details) >= 290
    return answer.fields


def method(service: ServiceDescriptor, name: str) -> MethodDescriptor:
    return service.methods_by_name[name]
