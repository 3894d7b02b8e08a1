"""Domain errors → gRPC status with rich details (google.rpc.BadRequest, google.rpc.ErrorInfo)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.domain import errors

ERROR_DOMAIN = "cashier.v1"
# An error may echo what the client sent (a name, a currency code); all of it travels in trailers, which
# gRPC limits to 16 KiB by default (beyond, the client sees RESOURCE_EXHAUSTED "Stream removed" instead of
# our answer). So every echoed text is cut to a bound and the field violations are capped in number.
MAX_MESSAGE = 300
MAX_ECHO = 200
MAX_VIOLATIONS = 20

_CODES: list[tuple[type[errors.CashierError], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ChannelUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
]


def status_code_for(exc: errors.CashierError) -> grpc.StatusCode:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def clip(text: str, limit: int = MAX_ECHO) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def to_status(exc: errors.CashierError) -> grpc.Status:
    code = status_code_for(exc)
    details = []
    if isinstance(exc, errors.InvalidArgument):
        shown = exc.violations[:MAX_VIOLATIONS]
        violations = [error_details_pb2.BadRequest.FieldViolation(field=clip(v.field), description=clip(v.description))
                      for v in shown]
        if len(exc.violations) > len(shown):
            violations.append(error_details_pb2.BadRequest.FieldViolation(
                field=clip(exc.violations[len(shown)].field),
                description=f"and {len(exc.violations) - len(shown)} more violations not shown"))
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    details.append(_pack(error_details_pb2.ErrorInfo(
        reason=exc.reason, domain=ERROR_DOMAIN, metadata={k: clip(v) for k, v in exc.metadata.items()})))
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=clip(exc.message, MAX_MESSAGE),
                                                  details=details))


def internal_status(request_id: str) -> grpc.Status:
    return rpc_status.to_status(status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error; the operator can find it in the logs under request id {request_id}",
    ))
