import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Platform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLATFORM_UNSPECIFIED: _ClassVar[Platform]
    PLATFORM_IOS_APP: _ClassVar[Platform]
    PLATFORM_ANDROID_APP: _ClassVar[Platform]
    PLATFORM_HARMONYOS_APP: _ClassVar[Platform]
    PLATFORM_PC_BROWSER: _ClassVar[Platform]
    PLATFORM_MOBILE_BROWSER: _ClassVar[Platform]
    PLATFORM_IN_APP_BROWSER: _ClassVar[Platform]

class Scenario(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCENARIO_UNSPECIFIED: _ClassVar[Scenario]
    SCENARIO_POST_PRODUCT_CARD: _ClassVar[Scenario]
    SCENARIO_SHOP_HOME: _ClassVar[Scenario]
    SCENARIO_SHARED_LINK: _ClassVar[Scenario]
    SCENARIO_OTHER: _ClassVar[Scenario]

class PaymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATE_UNSPECIFIED: _ClassVar[PaymentState]
    PAYMENT_STATE_PENDING: _ClassVar[PaymentState]
    PAYMENT_STATE_SUCCEEDED: _ClassVar[PaymentState]
    PAYMENT_STATE_CLOSED: _ClassVar[PaymentState]
    PAYMENT_STATE_FAILED: _ClassVar[PaymentState]
    PAYMENT_STATE_PARTIALLY_REFUNDED: _ClassVar[PaymentState]
    PAYMENT_STATE_REFUNDED: _ClassVar[PaymentState]
PLATFORM_UNSPECIFIED: Platform
PLATFORM_IOS_APP: Platform
PLATFORM_ANDROID_APP: Platform
PLATFORM_HARMONYOS_APP: Platform
PLATFORM_PC_BROWSER: Platform
PLATFORM_MOBILE_BROWSER: Platform
PLATFORM_IN_APP_BROWSER: Platform
SCENARIO_UNSPECIFIED: Scenario
SCENARIO_POST_PRODUCT_CARD: Scenario
SCENARIO_SHOP_HOME: Scenario
SCENARIO_SHARED_LINK: Scenario
SCENARIO_OTHER: Scenario
PAYMENT_STATE_UNSPECIFIED: PaymentState
PAYMENT_STATE_PENDING: PaymentState
PAYMENT_STATE_SUCCEEDED: PaymentState
PAYMENT_STATE_CLOSED: PaymentState
PAYMENT_STATE_FAILED: PaymentState
PAYMENT_STATE_PARTIALLY_REFUNDED: PaymentState
PAYMENT_STATE_REFUNDED: PaymentState

class Payment(_message.Message):
    __slots__ = ("name", "out_trade_no", "amount", "currency_code", "subject", "line_items", "state", "channel", "client", "scenario", "action", "return_url", "create_time", "update_time", "expire_time", "metadata", "scan_to_pay", "refunded_amount", "channel_reference", "paid_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUT_TRADE_NO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RETURN_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCAN_TO_PAY_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PAID_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    out_trade_no: str
    amount: int
    currency_code: str
    subject: str
    line_items: _containers.RepeatedCompositeFieldContainer[LineItem]
    state: PaymentState
    channel: str
    client: Client
    scenario: Scenario
    action: BuyerAction
    return_url: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    metadata: _containers.ScalarMap[str, str]
    scan_to_pay: bool
    refunded_amount: int
    channel_reference: str
    paid_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., out_trade_no: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., subject: _Optional[str] = ..., line_items: _Optional[_Iterable[_Union[LineItem, _Mapping]]] = ..., state: _Optional[_Union[PaymentState, str]] = ..., channel: _Optional[str] = ..., client: _Optional[_Union[Client, _Mapping]] = ..., scenario: _Optional[_Union[Scenario, str]] = ..., action: _Optional[_Union[BuyerAction, _Mapping]] = ..., return_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., scan_to_pay: _Optional[bool] = ..., refunded_amount: _Optional[int] = ..., channel_reference: _Optional[str] = ..., paid_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LineItem(_message.Message):
    __slots__ = ("sku", "name", "quantity", "unit_price")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    quantity: int
    unit_price: int
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[int] = ...) -> None: ...

class Client(_message.Message):
    __slots__ = ("platform", "app_name", "app_version", "user_agent")
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    APP_VERSION_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    platform: Platform
    app_name: str
    app_version: str
    user_agent: str
    def __init__(self, platform: _Optional[_Union[Platform, str]] = ..., app_name: _Optional[str] = ..., app_version: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class BuyerAction(_message.Message):
    __slots__ = ("app_pay", "redirect", "qr_code", "hosted_checkout")
    APP_PAY_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_FIELD_NUMBER: _ClassVar[int]
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    HOSTED_CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    app_pay: AppPayAction
    redirect: RedirectAction
    qr_code: QrCodeAction
    hosted_checkout: HostedCheckoutAction
    def __init__(self, app_pay: _Optional[_Union[AppPayAction, _Mapping]] = ..., redirect: _Optional[_Union[RedirectAction, _Mapping]] = ..., qr_code: _Optional[_Union[QrCodeAction, _Mapping]] = ..., hosted_checkout: _Optional[_Union[HostedCheckoutAction, _Mapping]] = ...) -> None: ...

class AppPayAction(_message.Message):
    __slots__ = ("order_string",)
    ORDER_STRING_FIELD_NUMBER: _ClassVar[int]
    order_string: str
    def __init__(self, order_string: _Optional[str] = ...) -> None: ...

class RedirectAction(_message.Message):
    __slots__ = ("url", "form_html")
    URL_FIELD_NUMBER: _ClassVar[int]
    FORM_HTML_FIELD_NUMBER: _ClassVar[int]
    url: str
    form_html: str
    def __init__(self, url: _Optional[str] = ..., form_html: _Optional[str] = ...) -> None: ...

class QrCodeAction(_message.Message):
    __slots__ = ("code", "svg", "png")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SVG_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    code: str
    svg: str
    png: bytes
    def __init__(self, code: _Optional[str] = ..., svg: _Optional[str] = ..., png: _Optional[bytes] = ...) -> None: ...

class HostedCheckoutAction(_message.Message):
    __slots__ = ("url", "expire_time")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    url: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
