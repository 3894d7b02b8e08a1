import datetime

from cashier.v1 import payment_pb2 as _payment_pb2
from cashier.v1 import refund_pb2 as _refund_pb2
from cashier.v1 import routing_pb2 as _routing_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreatePaymentRequest(_message.Message):
    __slots__ = ("parent", "out_trade_no", "amount", "currency_code", "subject", "line_items", "client", "scenario", "return_url", "expire_after", "metadata", "scan_to_pay")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PARENT_FIELD_NUMBER: _ClassVar[int]
    OUT_TRADE_NO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    RETURN_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AFTER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCAN_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    out_trade_no: str
    amount: int
    currency_code: str
    subject: str
    line_items: _containers.RepeatedCompositeFieldContainer[_payment_pb2.LineItem]
    client: _payment_pb2.Client
    scenario: _payment_pb2.Scenario
    return_url: str
    expire_after: _duration_pb2.Duration
    metadata: _containers.ScalarMap[str, str]
    scan_to_pay: bool
    def __init__(self, parent: _Optional[str] = ..., out_trade_no: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., subject: _Optional[str] = ..., line_items: _Optional[_Iterable[_Union[_payment_pb2.LineItem, _Mapping]]] = ..., client: _Optional[_Union[_payment_pb2.Client, _Mapping]] = ..., scenario: _Optional[_Union[_payment_pb2.Scenario, str]] = ..., return_url: _Optional[str] = ..., expire_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., scan_to_pay: _Optional[bool] = ...) -> None: ...

class CreatePaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: _payment_pb2.Payment
    def __init__(self, payment: _Optional[_Union[_payment_pb2.Payment, _Mapping]] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: _payment_pb2.Payment
    def __init__(self, payment: _Optional[_Union[_payment_pb2.Payment, _Mapping]] = ...) -> None: ...

class ListPaymentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "state", "create_time_from", "create_time_to", "out_trade_no")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_TO_FIELD_NUMBER: _ClassVar[int]
    OUT_TRADE_NO_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    state: _payment_pb2.PaymentState
    create_time_from: _timestamp_pb2.Timestamp
    create_time_to: _timestamp_pb2.Timestamp
    out_trade_no: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_payment_pb2.PaymentState, str]] = ..., create_time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., out_trade_no: _Optional[str] = ...) -> None: ...

class ListPaymentsResponse(_message.Message):
    __slots__ = ("payments", "next_page_token")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[_payment_pb2.Payment]
    next_page_token: str
    def __init__(self, payments: _Optional[_Iterable[_Union[_payment_pb2.Payment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ClosePaymentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ClosePaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: _payment_pb2.Payment
    def __init__(self, payment: _Optional[_Union[_payment_pb2.Payment, _Mapping]] = ...) -> None: ...

class PreviewRouteRequest(_message.Message):
    __slots__ = ("parent", "amount", "currency_code", "client", "scenario", "scan_to_pay")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    SCAN_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    amount: int
    currency_code: str
    client: _payment_pb2.Client
    scenario: _payment_pb2.Scenario
    scan_to_pay: bool
    def __init__(self, parent: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., client: _Optional[_Union[_payment_pb2.Client, _Mapping]] = ..., scenario: _Optional[_Union[_payment_pb2.Scenario, str]] = ..., scan_to_pay: _Optional[bool] = ...) -> None: ...

class PreviewRouteResponse(_message.Message):
    __slots__ = ("channel", "candidates", "refusal")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    channel: str
    candidates: _containers.RepeatedCompositeFieldContainer[_routing_pb2.RouteCandidate]
    refusal: str
    def __init__(self, channel: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[_routing_pb2.RouteCandidate, _Mapping]]] = ..., refusal: _Optional[str] = ...) -> None: ...

class ListChannelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChannelsResponse(_message.Message):
    __slots__ = ("channels", "next_page_token")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[_routing_pb2.Channel]
    next_page_token: str
    def __init__(self, channels: _Optional[_Iterable[_Union[_routing_pb2.Channel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RefundPaymentRequest(_message.Message):
    __slots__ = ("parent", "out_refund_no", "amount", "reason")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    OUT_REFUND_NO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    parent: str
    out_refund_no: str
    amount: int
    reason: str
    def __init__(self, parent: _Optional[str] = ..., out_refund_no: _Optional[str] = ..., amount: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RefundPaymentResponse(_message.Message):
    __slots__ = ("refund",)
    REFUND_FIELD_NUMBER: _ClassVar[int]
    refund: _refund_pb2.Refund
    def __init__(self, refund: _Optional[_Union[_refund_pb2.Refund, _Mapping]] = ...) -> None: ...

class GetRefundRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetRefundResponse(_message.Message):
    __slots__ = ("refund",)
    REFUND_FIELD_NUMBER: _ClassVar[int]
    refund: _refund_pb2.Refund
    def __init__(self, refund: _Optional[_Union[_refund_pb2.Refund, _Mapping]] = ...) -> None: ...

class ListRefundsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "state")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    state: _refund_pb2.RefundState
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_refund_pb2.RefundState, str]] = ...) -> None: ...

class ListRefundsResponse(_message.Message):
    __slots__ = ("refunds", "next_page_token")
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refunds: _containers.RepeatedCompositeFieldContainer[_refund_pb2.Refund]
    next_page_token: str
    def __init__(self, refunds: _Optional[_Iterable[_Union[_refund_pb2.Refund, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchPaymentRequest(_message.Message):
    __slots__ = ("name", "follow_refunds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_REFUNDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    follow_refunds: bool
    def __init__(self, name: _Optional[str] = ..., follow_refunds: _Optional[bool] = ...) -> None: ...

class WatchPaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: _payment_pb2.Payment
    def __init__(self, payment: _Optional[_Union[_payment_pb2.Payment, _Mapping]] = ...) -> None: ...
