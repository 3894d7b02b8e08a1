from cashier.v1 import merchant_pb2 as _merchant_pb2
from cashier.v1 import onboarding_pb2 as _onboarding_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_APPROVE: _ClassVar[ReviewDecision]
    REVIEW_DECISION_REJECT: _ClassVar[ReviewDecision]
    REVIEW_DECISION_SEND_BACK: _ClassVar[ReviewDecision]
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_APPROVE: ReviewDecision
REVIEW_DECISION_REJECT: ReviewDecision
REVIEW_DECISION_SEND_BACK: ReviewDecision

class SubmitApplicationRequest(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ...) -> None: ...

class SubmitApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ...) -> None: ...

class GetApplicationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ...) -> None: ...

class ListApplicationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "kind", "applicant_account_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _onboarding_pb2.ApplicationState
    kind: _onboarding_pb2.VerificationKind
    applicant_account_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_onboarding_pb2.ApplicationState, str]] = ..., kind: _Optional[_Union[_onboarding_pb2.VerificationKind, str]] = ..., applicant_account_id: _Optional[str] = ...) -> None: ...

class ListApplicationsResponse(_message.Message):
    __slots__ = ("applications", "next_page_token")
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    applications: _containers.RepeatedCompositeFieldContainer[_onboarding_pb2.Application]
    next_page_token: str
    def __init__(self, applications: _Optional[_Iterable[_Union[_onboarding_pb2.Application, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateApplicationRequest(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ...) -> None: ...

class UpdateApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ...) -> None: ...

class WithdrawApplicationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WithdrawApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ...) -> None: ...

class ReviewApplicationRequest(_message.Message):
    __slots__ = ("name", "decision", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: ReviewDecision
    reason: str
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ReviewApplicationResponse(_message.Message):
    __slots__ = ("application", "merchant")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    merchant: _merchant_pb2.Merchant
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ..., merchant: _Optional[_Union[_merchant_pb2.Merchant, _Mapping]] = ...) -> None: ...

class AddApplicationDocumentRequest(_message.Message):
    __slots__ = ("parent", "content")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    content: bytes
    def __init__(self, parent: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class AddApplicationDocumentResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: _onboarding_pb2.ApplicationDocument
    def __init__(self, document: _Optional[_Union[_onboarding_pb2.ApplicationDocument, _Mapping]] = ...) -> None: ...

class GetApplicationDocumentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetApplicationDocumentResponse(_message.Message):
    __slots__ = ("document", "content")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    document: _onboarding_pb2.ApplicationDocument
    content: bytes
    def __init__(self, document: _Optional[_Union[_onboarding_pb2.ApplicationDocument, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class GetMerchantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMerchantResponse(_message.Message):
    __slots__ = ("merchant",)
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    merchant: _merchant_pb2.Merchant
    def __init__(self, merchant: _Optional[_Union[_merchant_pb2.Merchant, _Mapping]] = ...) -> None: ...

class ListMerchantsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMerchantsResponse(_message.Message):
    __slots__ = ("merchants", "next_page_token")
    MERCHANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    merchants: _containers.RepeatedCompositeFieldContainer[_merchant_pb2.Merchant]
    next_page_token: str
    def __init__(self, merchants: _Optional[_Iterable[_Union[_merchant_pb2.Merchant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StartAccountVerificationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StartAccountVerificationResponse(_message.Message):
    __slots__ = ("attempt",)
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    attempt: _onboarding_pb2.VerificationAttempt
    def __init__(self, attempt: _Optional[_Union[_onboarding_pb2.VerificationAttempt, _Mapping]] = ...) -> None: ...

class ConfirmAccountVerificationRequest(_message.Message):
    __slots__ = ("name", "amount")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    amount: int
    def __init__(self, name: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class ConfirmAccountVerificationResponse(_message.Message):
    __slots__ = ("application", "attempt")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    application: _onboarding_pb2.Application
    attempt: _onboarding_pb2.VerificationAttempt
    def __init__(self, application: _Optional[_Union[_onboarding_pb2.Application, _Mapping]] = ..., attempt: _Optional[_Union[_onboarding_pb2.VerificationAttempt, _Mapping]] = ...) -> None: ...

class GetSettlementScheduleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSettlementScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: _onboarding_pb2.SettlementSchedule
    def __init__(self, schedule: _Optional[_Union[_onboarding_pb2.SettlementSchedule, _Mapping]] = ...) -> None: ...

class SetSettlementPlanRequest(_message.Message):
    __slots__ = ("merchant", "plan")
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    merchant: str
    plan: _merchant_pb2.SettlementPlan
    def __init__(self, merchant: _Optional[str] = ..., plan: _Optional[_Union[_merchant_pb2.SettlementPlan, str]] = ...) -> None: ...

class SetSettlementPlanResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: _onboarding_pb2.SettlementSchedule
    def __init__(self, schedule: _Optional[_Union[_onboarding_pb2.SettlementSchedule, _Mapping]] = ...) -> None: ...

class RecordDepositRequest(_message.Message):
    __slots__ = ("parent", "amount", "currency_code", "external_reference")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    amount: int
    currency_code: str
    external_reference: str
    def __init__(self, parent: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., external_reference: _Optional[str] = ...) -> None: ...

class RecordDepositResponse(_message.Message):
    __slots__ = ("deposit",)
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    deposit: _onboarding_pb2.Deposit
    def __init__(self, deposit: _Optional[_Union[_onboarding_pb2.Deposit, _Mapping]] = ...) -> None: ...

class ListDepositsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDepositsResponse(_message.Message):
    __slots__ = ("deposits", "next_page_token")
    DEPOSITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deposits: _containers.RepeatedCompositeFieldContainer[_onboarding_pb2.Deposit]
    next_page_token: str
    def __init__(self, deposits: _Optional[_Iterable[_Union[_onboarding_pb2.Deposit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReleaseDepositRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ReleaseDepositResponse(_message.Message):
    __slots__ = ("deposit", "schedule")
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    deposit: _onboarding_pb2.Deposit
    schedule: _onboarding_pb2.SettlementSchedule
    def __init__(self, deposit: _Optional[_Union[_onboarding_pb2.Deposit, _Mapping]] = ..., schedule: _Optional[_Union[_onboarding_pb2.SettlementSchedule, _Mapping]] = ...) -> None: ...

class ListAppsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAppsResponse(_message.Message):
    __slots__ = ("apps", "next_page_token")
    APPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[_onboarding_pb2.SquareApp]
    next_page_token: str
    def __init__(self, apps: _Optional[_Iterable[_Union[_onboarding_pb2.SquareApp, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuthorizeAppRequest(_message.Message):
    __slots__ = ("parent", "app")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    parent: str
    app: str
    def __init__(self, parent: _Optional[str] = ..., app: _Optional[str] = ...) -> None: ...

class AuthorizeAppResponse(_message.Message):
    __slots__ = ("authorization",)
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    authorization: _onboarding_pb2.AppAuthorization
    def __init__(self, authorization: _Optional[_Union[_onboarding_pb2.AppAuthorization, _Mapping]] = ...) -> None: ...

class RevokeAppRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeAppResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "application", "merchant")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    application: str
    merchant: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., application: _Optional[str] = ..., merchant: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("audit_events", "next_page_token")
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_events: _containers.RepeatedCompositeFieldContainer[_onboarding_pb2.AuditEvent]
    next_page_token: str
    def __init__(self, audit_events: _Optional[_Iterable[_Union[_onboarding_pb2.AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
