import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LedgerAccount(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEDGER_ACCOUNT_UNSPECIFIED: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_PENDING: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_AVAILABLE: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_DEPOSIT: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_PAYOUTS_IN_TRANSIT: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_FEE_REVENUE: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_CHANNEL_CLEARING: _ClassVar[LedgerAccount]
    LEDGER_ACCOUNT_PLATFORM_OTHER: _ClassVar[LedgerAccount]

class LedgerEntryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEDGER_ENTRY_KIND_UNSPECIFIED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_PAYMENT: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_FEE: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_REFUND: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_FEE_RETURNED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_FUNDS_RELEASED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_PAYOUT_SENT: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_PAYOUT_CONFIRMED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_PAYOUT_FAILED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_DEPOSIT_RECORDED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_DEPOSIT_RELEASED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_DEPOSIT_APPLIED: _ClassVar[LedgerEntryKind]
    LEDGER_ENTRY_KIND_OTHER: _ClassVar[LedgerEntryKind]

class PayoutState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYOUT_STATE_UNSPECIFIED: _ClassVar[PayoutState]
    PAYOUT_STATE_SENT: _ClassVar[PayoutState]
    PAYOUT_STATE_PAID: _ClassVar[PayoutState]
    PAYOUT_STATE_FAILED: _ClassVar[PayoutState]
    PAYOUT_STATE_UNKNOWN: _ClassVar[PayoutState]
    PAYOUT_STATE_PARKED: _ClassVar[PayoutState]

class StatementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATEMENT_KIND_UNSPECIFIED: _ClassVar[StatementKind]
    STATEMENT_KIND_TRADES: _ClassVar[StatementKind]
    STATEMENT_KIND_ACCOUNT: _ClassVar[StatementKind]

class ReconciliationBucket(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECONCILIATION_BUCKET_UNSPECIFIED: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_MATCHED: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_MISSING_OURS: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_MISSING_THEIRS: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_AMOUNT_DIFFERENCE: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_FEE_DIFFERENCE: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_EXPECTED: _ClassVar[ReconciliationBucket]
    RECONCILIATION_BUCKET_OTHER: _ClassVar[ReconciliationBucket]
LEDGER_ACCOUNT_UNSPECIFIED: LedgerAccount
LEDGER_ACCOUNT_PENDING: LedgerAccount
LEDGER_ACCOUNT_AVAILABLE: LedgerAccount
LEDGER_ACCOUNT_DEPOSIT: LedgerAccount
LEDGER_ACCOUNT_PAYOUTS_IN_TRANSIT: LedgerAccount
LEDGER_ACCOUNT_FEE_REVENUE: LedgerAccount
LEDGER_ACCOUNT_CHANNEL_CLEARING: LedgerAccount
LEDGER_ACCOUNT_PLATFORM_OTHER: LedgerAccount
LEDGER_ENTRY_KIND_UNSPECIFIED: LedgerEntryKind
LEDGER_ENTRY_KIND_PAYMENT: LedgerEntryKind
LEDGER_ENTRY_KIND_FEE: LedgerEntryKind
LEDGER_ENTRY_KIND_REFUND: LedgerEntryKind
LEDGER_ENTRY_KIND_FEE_RETURNED: LedgerEntryKind
LEDGER_ENTRY_KIND_FUNDS_RELEASED: LedgerEntryKind
LEDGER_ENTRY_KIND_PAYOUT_SENT: LedgerEntryKind
LEDGER_ENTRY_KIND_PAYOUT_CONFIRMED: LedgerEntryKind
LEDGER_ENTRY_KIND_PAYOUT_FAILED: LedgerEntryKind
LEDGER_ENTRY_KIND_DEPOSIT_RECORDED: LedgerEntryKind
LEDGER_ENTRY_KIND_DEPOSIT_RELEASED: LedgerEntryKind
LEDGER_ENTRY_KIND_DEPOSIT_APPLIED: LedgerEntryKind
LEDGER_ENTRY_KIND_OTHER: LedgerEntryKind
PAYOUT_STATE_UNSPECIFIED: PayoutState
PAYOUT_STATE_SENT: PayoutState
PAYOUT_STATE_PAID: PayoutState
PAYOUT_STATE_FAILED: PayoutState
PAYOUT_STATE_UNKNOWN: PayoutState
PAYOUT_STATE_PARKED: PayoutState
STATEMENT_KIND_UNSPECIFIED: StatementKind
STATEMENT_KIND_TRADES: StatementKind
STATEMENT_KIND_ACCOUNT: StatementKind
RECONCILIATION_BUCKET_UNSPECIFIED: ReconciliationBucket
RECONCILIATION_BUCKET_MATCHED: ReconciliationBucket
RECONCILIATION_BUCKET_MISSING_OURS: ReconciliationBucket
RECONCILIATION_BUCKET_MISSING_THEIRS: ReconciliationBucket
RECONCILIATION_BUCKET_AMOUNT_DIFFERENCE: ReconciliationBucket
RECONCILIATION_BUCKET_FEE_DIFFERENCE: ReconciliationBucket
RECONCILIATION_BUCKET_EXPECTED: ReconciliationBucket
RECONCILIATION_BUCKET_OTHER: ReconciliationBucket

class Balances(_message.Message):
    __slots__ = ("pending", "available", "deposit", "payouts_in_transit", "total")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    PAYOUTS_IN_TRANSIT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    pending: int
    available: int
    deposit: int
    payouts_in_transit: int
    total: int
    def __init__(self, pending: _Optional[int] = ..., available: _Optional[int] = ..., deposit: _Optional[int] = ..., payouts_in_transit: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("name", "balances", "currency_code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    balances: Balances
    currency_code: str
    def __init__(self, name: _Optional[str] = ..., balances: _Optional[_Union[Balances, _Mapping]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class Payout(_message.Message):
    __slots__ = ("name", "run_date", "amount", "currency_code", "state", "part_count", "failures", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_DATE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PART_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    run_date: str
    amount: int
    currency_code: str
    state: PayoutState
    part_count: int
    failures: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., run_date: _Optional[str] = ..., amount: _Optional[int] = ..., currency_code: _Optional[str] = ..., state: _Optional[_Union[PayoutState, str]] = ..., part_count: _Optional[int] = ..., failures: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LedgerPosting(_message.Message):
    __slots__ = ("account", "amount")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    account: LedgerAccount
    amount: int
    def __init__(self, account: _Optional[_Union[LedgerAccount, str]] = ..., amount: _Optional[int] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("name", "kind", "reference", "settlement_date", "create_time", "postings", "change")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    POSTINGS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: LedgerEntryKind
    reference: str
    settlement_date: str
    create_time: _timestamp_pb2.Timestamp
    postings: _containers.RepeatedCompositeFieldContainer[LedgerPosting]
    change: Balances
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[LedgerEntryKind, str]] = ..., reference: _Optional[str] = ..., settlement_date: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., postings: _Optional[_Iterable[_Union[LedgerPosting, _Mapping]]] = ..., change: _Optional[_Union[Balances, _Mapping]] = ...) -> None: ...

class StatementMovement(_message.Message):
    __slots__ = ("kind", "entry_count", "change")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENTRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    kind: LedgerEntryKind
    entry_count: int
    change: Balances
    def __init__(self, kind: _Optional[_Union[LedgerEntryKind, str]] = ..., entry_count: _Optional[int] = ..., change: _Optional[_Union[Balances, _Mapping]] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("name", "start_date", "end_date", "opening", "movements", "closing", "currency_code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    OPENING_FIELD_NUMBER: _ClassVar[int]
    MOVEMENTS_FIELD_NUMBER: _ClassVar[int]
    CLOSING_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_date: str
    end_date: str
    opening: Balances
    movements: _containers.RepeatedCompositeFieldContainer[StatementMovement]
    closing: Balances
    currency_code: str
    def __init__(self, name: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., opening: _Optional[_Union[Balances, _Mapping]] = ..., movements: _Optional[_Iterable[_Union[StatementMovement, _Mapping]]] = ..., closing: _Optional[_Union[Balances, _Mapping]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance",)
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    balance: Balance
    def __init__(self, balance: _Optional[_Union[Balance, _Mapping]] = ...) -> None: ...

class ListPayoutsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPayoutsResponse(_message.Message):
    __slots__ = ("payouts", "next_page_token")
    PAYOUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payouts: _containers.RepeatedCompositeFieldContainer[Payout]
    next_page_token: str
    def __init__(self, payouts: _Optional[_Iterable[_Union[Payout, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPayoutRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPayoutResponse(_message.Message):
    __slots__ = ("payout",)
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    payout: Payout
    def __init__(self, payout: _Optional[_Union[Payout, _Mapping]] = ...) -> None: ...

class ListLedgerEntriesRequest(_message.Message):
    __slots__ = ("parent", "start_date", "end_date", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    start_date: str
    end_date: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLedgerEntriesResponse(_message.Message):
    __slots__ = ("ledger_entries", "next_page_token")
    LEDGER_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ledger_entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, ledger_entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetStatementRequest(_message.Message):
    __slots__ = ("name", "start_date", "end_date")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_date: str
    end_date: str
    def __init__(self, name: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class GetStatementResponse(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: Statement
    def __init__(self, statement: _Optional[_Union[Statement, _Mapping]] = ...) -> None: ...

class RunSettlementRequest(_message.Message):
    __slots__ = ("run_date",)
    RUN_DATE_FIELD_NUMBER: _ClassVar[int]
    run_date: str
    def __init__(self, run_date: _Optional[str] = ...) -> None: ...

class RunSettlementResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReconciliationTotal(_message.Message):
    __slots__ = ("bucket", "count", "statement_amount", "our_amount")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OUR_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    bucket: ReconciliationBucket
    count: int
    statement_amount: int
    our_amount: int
    def __init__(self, bucket: _Optional[_Union[ReconciliationBucket, str]] = ..., count: _Optional[int] = ..., statement_amount: _Optional[int] = ..., our_amount: _Optional[int] = ...) -> None: ...

class ReconciliationItem(_message.Message):
    __slots__ = ("bucket", "line_kind", "reference", "channel_reference", "merchant_id", "our_amount", "statement_amount", "statement_fee", "expected_fee")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    LINE_KIND_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    OUR_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FEE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FEE_FIELD_NUMBER: _ClassVar[int]
    bucket: ReconciliationBucket
    line_kind: str
    reference: str
    channel_reference: str
    merchant_id: str
    our_amount: int
    statement_amount: int
    statement_fee: int
    expected_fee: int
    def __init__(self, bucket: _Optional[_Union[ReconciliationBucket, str]] = ..., line_kind: _Optional[str] = ..., reference: _Optional[str] = ..., channel_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., our_amount: _Optional[int] = ..., statement_amount: _Optional[int] = ..., statement_fee: _Optional[int] = ..., expected_fee: _Optional[int] = ...) -> None: ...

class ReconciliationReport(_message.Message):
    __slots__ = ("date", "kind", "source", "line_count", "statement_amount", "totals", "differences", "unexplained_amount", "clean")
    DATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    UNEXPLAINED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CLEAN_FIELD_NUMBER: _ClassVar[int]
    date: str
    kind: StatementKind
    source: str
    line_count: int
    statement_amount: int
    totals: _containers.RepeatedCompositeFieldContainer[ReconciliationTotal]
    differences: _containers.RepeatedCompositeFieldContainer[ReconciliationItem]
    unexplained_amount: int
    clean: bool
    def __init__(self, date: _Optional[str] = ..., kind: _Optional[_Union[StatementKind, str]] = ..., source: _Optional[str] = ..., line_count: _Optional[int] = ..., statement_amount: _Optional[int] = ..., totals: _Optional[_Iterable[_Union[ReconciliationTotal, _Mapping]]] = ..., differences: _Optional[_Iterable[_Union[ReconciliationItem, _Mapping]]] = ..., unexplained_amount: _Optional[int] = ..., clean: _Optional[bool] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("date", "kind")
    DATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    date: str
    kind: StatementKind
    def __init__(self, date: _Optional[str] = ..., kind: _Optional[_Union[StatementKind, str]] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[ReconciliationReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[ReconciliationReport, _Mapping]]] = ...) -> None: ...
