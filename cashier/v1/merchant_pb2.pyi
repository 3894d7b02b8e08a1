import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MerchantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MERCHANT_STATE_UNSPECIFIED: _ClassVar[MerchantState]
    MERCHANT_STATE_SUBMITTED: _ClassVar[MerchantState]
    MERCHANT_STATE_UNDER_REVIEW: _ClassVar[MerchantState]
    MERCHANT_STATE_APPROVED: _ClassVar[MerchantState]
    MERCHANT_STATE_REJECTED: _ClassVar[MerchantState]

class SettlementPlan(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTLEMENT_PLAN_UNSPECIFIED: _ClassVar[SettlementPlan]
    SETTLEMENT_PLAN_T15: _ClassVar[SettlementPlan]
    SETTLEMENT_PLAN_T0: _ClassVar[SettlementPlan]
MERCHANT_STATE_UNSPECIFIED: MerchantState
MERCHANT_STATE_SUBMITTED: MerchantState
MERCHANT_STATE_UNDER_REVIEW: MerchantState
MERCHANT_STATE_APPROVED: MerchantState
MERCHANT_STATE_REJECTED: MerchantState
SETTLEMENT_PLAN_UNSPECIFIED: SettlementPlan
SETTLEMENT_PLAN_T15: SettlementPlan
SETTLEMENT_PLAN_T0: SettlementPlan

class Merchant(_message.Message):
    __slots__ = ("name", "display_name", "state", "collection_enabled", "business_category", "settlement_plan", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ENABLED_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_PLAN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    state: MerchantState
    collection_enabled: bool
    business_category: str
    settlement_plan: SettlementPlan
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[MerchantState, str]] = ..., collection_enabled: _Optional[bool] = ..., business_category: _Optional[str] = ..., settlement_plan: _Optional[_Union[SettlementPlan, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
