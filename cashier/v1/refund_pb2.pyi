import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RefundState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFUND_STATE_UNSPECIFIED: _ClassVar[RefundState]
    REFUND_STATE_PENDING: _ClassVar[RefundState]
    REFUND_STATE_SUCCEEDED: _ClassVar[RefundState]
    REFUND_STATE_FAILED: _ClassVar[RefundState]
REFUND_STATE_UNSPECIFIED: RefundState
REFUND_STATE_PENDING: RefundState
REFUND_STATE_SUCCEEDED: RefundState
REFUND_STATE_FAILED: RefundState

class Refund(_message.Message):
    __slots__ = ("name", "out_refund_no", "amount", "currency_code", "reason", "state", "failure_reason", "create_time", "update_time", "channel_reference")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUT_REFUND_NO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    out_refund_no: str
    amount: int
    currency_code: str
    reason: str
    state: RefundState
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    channel_reference: str
    def __init__(self, name: _Optional[str] = ..., out_refund_no: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., reason: _Optional[str] = ..., state: _Optional[_Union[RefundState, str]] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel_reference: _Optional[str] = ...) -> None: ...
