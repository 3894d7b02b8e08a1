import datetime

from cashier.v1 import merchant_pb2 as _merchant_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerificationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_KIND_UNSPECIFIED: _ClassVar[VerificationKind]
    VERIFICATION_KIND_ENTERPRISE: _ClassVar[VerificationKind]
    VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS: _ClassVar[VerificationKind]
    VERIFICATION_KIND_INDIVIDUAL: _ClassVar[VerificationKind]

class ApplicationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLICATION_STATE_UNSPECIFIED: _ClassVar[ApplicationState]
    APPLICATION_STATE_SUBMITTED: _ClassVar[ApplicationState]
    APPLICATION_STATE_SENT_BACK: _ClassVar[ApplicationState]
    APPLICATION_STATE_APPROVED: _ClassVar[ApplicationState]
    APPLICATION_STATE_REJECTED: _ClassVar[ApplicationState]
    APPLICATION_STATE_WITHDRAWN: _ClassVar[ApplicationState]

class AccountVerificationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_VERIFICATION_STATE_UNSPECIFIED: _ClassVar[AccountVerificationState]
    ACCOUNT_VERIFICATION_STATE_UNVERIFIED: _ClassVar[AccountVerificationState]
    ACCOUNT_VERIFICATION_STATE_VERIFYING: _ClassVar[AccountVerificationState]
    ACCOUNT_VERIFICATION_STATE_VERIFIED: _ClassVar[AccountVerificationState]
    ACCOUNT_VERIFICATION_STATE_FAILED: _ClassVar[AccountVerificationState]

class VerificationAttemptState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_ATTEMPT_STATE_UNSPECIFIED: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_SENDING: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_SENT: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_VERIFIED: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_FAILED: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_EXPIRED: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_REFUSED: _ClassVar[VerificationAttemptState]
    VERIFICATION_ATTEMPT_STATE_SUPERSEDED: _ClassVar[VerificationAttemptState]

class DepositState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPOSIT_STATE_UNSPECIFIED: _ClassVar[DepositState]
    DEPOSIT_STATE_HELD: _ClassVar[DepositState]
    DEPOSIT_STATE_RELEASING: _ClassVar[DepositState]
    DEPOSIT_STATE_RELEASED: _ClassVar[DepositState]

class ActorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTOR_KIND_UNSPECIFIED: _ClassVar[ActorKind]
    ACTOR_KIND_OPERATOR: _ClassVar[ActorKind]
    ACTOR_KIND_APP: _ClassVar[ActorKind]
    ACTOR_KIND_APPLICANT: _ClassVar[ActorKind]
    ACTOR_KIND_SYSTEM: _ClassVar[ActorKind]
VERIFICATION_KIND_UNSPECIFIED: VerificationKind
VERIFICATION_KIND_ENTERPRISE: VerificationKind
VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS: VerificationKind
VERIFICATION_KIND_INDIVIDUAL: VerificationKind
APPLICATION_STATE_UNSPECIFIED: ApplicationState
APPLICATION_STATE_SUBMITTED: ApplicationState
APPLICATION_STATE_SENT_BACK: ApplicationState
APPLICATION_STATE_APPROVED: ApplicationState
APPLICATION_STATE_REJECTED: ApplicationState
APPLICATION_STATE_WITHDRAWN: ApplicationState
ACCOUNT_VERIFICATION_STATE_UNSPECIFIED: AccountVerificationState
ACCOUNT_VERIFICATION_STATE_UNVERIFIED: AccountVerificationState
ACCOUNT_VERIFICATION_STATE_VERIFYING: AccountVerificationState
ACCOUNT_VERIFICATION_STATE_VERIFIED: AccountVerificationState
ACCOUNT_VERIFICATION_STATE_FAILED: AccountVerificationState
VERIFICATION_ATTEMPT_STATE_UNSPECIFIED: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_SENDING: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_SENT: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_VERIFIED: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_FAILED: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_EXPIRED: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_REFUSED: VerificationAttemptState
VERIFICATION_ATTEMPT_STATE_SUPERSEDED: VerificationAttemptState
DEPOSIT_STATE_UNSPECIFIED: DepositState
DEPOSIT_STATE_HELD: DepositState
DEPOSIT_STATE_RELEASING: DepositState
DEPOSIT_STATE_RELEASED: DepositState
ACTOR_KIND_UNSPECIFIED: ActorKind
ACTOR_KIND_OPERATOR: ActorKind
ACTOR_KIND_APP: ActorKind
ACTOR_KIND_APPLICANT: ActorKind
ACTOR_KIND_SYSTEM: ActorKind

class Application(_message.Message):
    __slots__ = ("name", "merchant_id", "display_name", "basic_info", "business_info", "financial_info", "state", "account_state", "revision", "decision_reason", "create_time", "update_time", "decide_time", "documents")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BASIC_INFO_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_INFO_FIELD_NUMBER: _ClassVar[int]
    FINANCIAL_INFO_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_STATE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    merchant_id: str
    display_name: str
    basic_info: BasicInfo
    business_info: BusinessInfo
    financial_info: FinancialInfo
    state: ApplicationState
    account_state: AccountVerificationState
    revision: int
    decision_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    decide_time: _timestamp_pb2.Timestamp
    documents: _containers.RepeatedCompositeFieldContainer[ApplicationDocument]
    def __init__(self, name: _Optional[str] = ..., merchant_id: _Optional[str] = ..., display_name: _Optional[str] = ..., basic_info: _Optional[_Union[BasicInfo, _Mapping]] = ..., business_info: _Optional[_Union[BusinessInfo, _Mapping]] = ..., financial_info: _Optional[_Union[FinancialInfo, _Mapping]] = ..., state: _Optional[_Union[ApplicationState, str]] = ..., account_state: _Optional[_Union[AccountVerificationState, str]] = ..., revision: _Optional[int] = ..., decision_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[ApplicationDocument, _Mapping]]] = ...) -> None: ...

class BasicInfo(_message.Message):
    __slots__ = ("applicant_account_id", "kind", "contact_name", "contact_phone", "contact_email")
    APPLICANT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTACT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_PHONE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    applicant_account_id: str
    kind: VerificationKind
    contact_name: str
    contact_phone: str
    contact_email: str
    def __init__(self, applicant_account_id: _Optional[str] = ..., kind: _Optional[_Union[VerificationKind, str]] = ..., contact_name: _Optional[str] = ..., contact_phone: _Optional[str] = ..., contact_email: _Optional[str] = ...) -> None: ...

class BusinessInfo(_message.Message):
    __slots__ = ("legal_name", "credit_code", "registered_address", "business_scope", "business_category")
    LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_SCOPE_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    legal_name: str
    credit_code: str
    registered_address: str
    business_scope: str
    business_category: str
    def __init__(self, legal_name: _Optional[str] = ..., credit_code: _Optional[str] = ..., registered_address: _Optional[str] = ..., business_scope: _Optional[str] = ..., business_category: _Optional[str] = ...) -> None: ...

class FinancialInfo(_message.Message):
    __slots__ = ("payout_logon_id", "holder_name")
    PAYOUT_LOGON_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    payout_logon_id: str
    holder_name: str
    def __init__(self, payout_logon_id: _Optional[str] = ..., holder_name: _Optional[str] = ...) -> None: ...

class ApplicationDocument(_message.Message):
    __slots__ = ("name", "content_type", "size_bytes", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    content_type: str
    size_bytes: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class VerificationAttempt(_message.Message):
    __slots__ = ("name", "state", "answers_left", "create_time", "expire_time", "refusal")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_LEFT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: VerificationAttemptState
    answers_left: int
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    refusal: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[VerificationAttemptState, str]] = ..., answers_left: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refusal: _Optional[str] = ...) -> None: ...

class Deposit(_message.Message):
    __slots__ = ("name", "amount", "currency_code", "external_reference", "state", "record_time", "release_date", "release_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    RELEASE_DATE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    amount: int
    currency_code: str
    external_reference: str
    state: DepositState
    record_time: _timestamp_pb2.Timestamp
    release_date: str
    release_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., external_reference: _Optional[str] = ..., state: _Optional[_Union[DepositState, str]] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., release_date: _Optional[str] = ..., release_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SettlementSchedule(_message.Message):
    __slots__ = ("name", "plan", "next_plan", "next_plan_date", "deposit_held", "deposit_required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    NEXT_PLAN_FIELD_NUMBER: _ClassVar[int]
    NEXT_PLAN_DATE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_HELD_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    plan: _merchant_pb2.SettlementPlan
    next_plan: _merchant_pb2.SettlementPlan
    next_plan_date: str
    deposit_held: int
    deposit_required: int
    def __init__(self, name: _Optional[str] = ..., plan: _Optional[_Union[_merchant_pb2.SettlementPlan, str]] = ..., next_plan: _Optional[_Union[_merchant_pb2.SettlementPlan, str]] = ..., next_plan_date: _Optional[str] = ..., deposit_held: _Optional[int] = ..., deposit_required: _Optional[int] = ...) -> None: ...

class SquareApp(_message.Message):
    __slots__ = ("name", "display_name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class AppAuthorization(_message.Message):
    __slots__ = ("name", "app", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    app: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., app: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("name", "create_time", "actor_kind", "actor_id", "via", "action", "subject", "application", "merchant", "before_json", "after_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_JSON_FIELD_NUMBER: _ClassVar[int]
    AFTER_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    create_time: _timestamp_pb2.Timestamp
    actor_kind: ActorKind
    actor_id: str
    via: str
    action: str
    subject: str
    application: str
    merchant: str
    before_json: str
    after_json: str
    def __init__(self, name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_kind: _Optional[_Union[ActorKind, str]] = ..., actor_id: _Optional[str] = ..., via: _Optional[str] = ..., action: _Optional[str] = ..., subject: _Optional[str] = ..., application: _Optional[str] = ..., merchant: _Optional[str] = ..., before_json: _Optional[str] = ..., after_json: _Optional[str] = ...) -> None: ...
