"""gateway/api/status.py on its own: every domain error class → its status code, and the bounds on what an
error echoes. (The servicer tests beside this one see the same mapping through the interceptor.)"""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from gateway.api.status import MAX_MESSAGE, MAX_VIOLATIONS, internal_status, status_code_for, to_status
from gateway.domain import errors


def _details(status: grpc.Status) -> tuple[status_pb2.Status, error_details_pb2.BadRequest | None,
                                          error_details_pb2.ErrorInfo]:
    packed = status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])
    bad, info = None, error_details_pb2.ErrorInfo()
    for detail in packed.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
        else:
            assert detail.Unpack(info)
    return packed, bad, info


@pytest.mark.parametrize("error, code", [
    (errors.InvalidArgument([errors.FieldViolation("f", "d")]), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unauthenticated("who?"), grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound("gone"), grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists("twice"), grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition("not now"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ChannelUnavailable("down"), grpc.StatusCode.UNAVAILABLE),
    (errors.ResourceExhausted("full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.CashierError("unclassified"), grpc.StatusCode.INTERNAL),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "")
def test_each_domain_error_has_its_code_and_reason(error: errors.CashierError, code: grpc.StatusCode) -> None:
    status = to_status(error)
    assert status_code_for(error) == code and status.code == code
    packed, _, info = _details(status)
    assert packed.code == code.value[0] and packed.message == error.message == status.details
    assert (info.reason, info.domain) == (error.reason, "cashier.v1")


def test_every_error_class_is_mapped() -> None:
    def subclasses(cls: type) -> set[type]:
        return {c for sub in cls.__subclasses__() for c in {sub, *subclasses(sub)}}

    unmapped = [c.__name__ for c in subclasses(errors.CashierError)
                if status_code_for(c.__new__(c)) == grpc.StatusCode.INTERNAL]
    assert unmapped == []


def test_a_reason_and_metadata_given_by_the_raiser_reach_error_info() -> None:
    error = errors.NotFound("payment p does not exist", reason="PAYMENT_NOT_FOUND", metadata={"payment": "p"})
    _, bad, info = _details(to_status(error))
    assert bad is None and info.reason == "PAYMENT_NOT_FOUND" and dict(info.metadata) == {"payment": "p"}


def test_what_an_error_echoes_is_bounded() -> None:
    many = [errors.FieldViolation(f"line_items[{i}].name", "x" * 1000) for i in range(MAX_VIOLATIONS + 5)]
    status = to_status(errors.InvalidArgument(many))
    assert len(status.details) <= MAX_MESSAGE
    _, bad, _ = _details(status)
    assert bad is not None and len(bad.field_violations) == MAX_VIOLATIONS + 1
    assert [v.field for v in bad.field_violations[:3]] == ["line_items[0].name", "line_items[1].name",
                                                            "line_items[2].name"]
    assert all(len(v.description) <= 200 for v in bad.field_violations)
    assert bad.field_violations[-1].description == "and 5 more violations not shown"
    info_status = to_status(errors.NotFound("n", metadata={"name": "y" * 5000}))
    assert len(dict(_details(info_status)[2].metadata)["name"]) <= 200


def test_an_internal_error_names_only_the_request_id() -> None:
    status = internal_status("req-7")
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error; the operator can find it in the logs under request id req-7"
