"""What every request of every RPC must satisfy before a servicer sees it, checked from the descriptors so
that an RPC added later is held to the same rules without a line here:

- its bytes are a message of the RPC's request type (grpcio's own answer to bytes that are not would be
  INTERNAL "Exception deserializing request!");
- every string keeps the domain's rule for incoming text (no control characters, bounded length);
- every enum number is one the enum declares;
- every Timestamp and Duration is within protobuf's own range (else the conversions raise).

Each broken rule is a violation naming the field by its path (`line_items[2].name`, `metadata['k']`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from gateway.domain.errors import FieldViolation, InvalidArgument, Violations
from gateway.domain.validation import check_incoming_text

# google/protobuf/timestamp.proto and duration.proto: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z,
# and ±10,000 years.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MAX_DURATION_SECONDS = 315_576_000_000
_NANOS = 999_999_999

UNDECODABLE_FIELD = "request"


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the request deserializer hands on instead of raising: the bytes were no `type_name`."""

    type_name: str

    def error(self) -> InvalidArgument:
        return InvalidArgument([FieldViolation(
            UNDECODABLE_FIELD,
            f"is not a valid {self.type_name} in protobuf's binary format "
            "(truncated, a string that is not UTF-8, or not protobuf at all)")])


def tolerant_deserializer(deserialize: Callable[[bytes], Any] | None, type_name: str
                          ) -> Callable[[bytes], Any] | None:
    """`deserialize`, but bytes it cannot read become an Undecodable marker instead of an exception."""
    if deserialize is None:
        return None
    marker = Undecodable(type_name)

    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, ValueError, RecursionError):  # the last two: what other runtimes have raised
            return marker

    return tolerant


def check_request(request: Any) -> None:
    """Raise InvalidArgument naming every field that breaks the rules above."""
    if isinstance(request, Undecodable):
        raise request.error()
    if isinstance(request, Message):
        v = Violations()
        _check_message(v, "", request)
        v.raise_if_any()


def _check_message(v: Violations, prefix: str, message: Message) -> None:
    checker = _WELL_KNOWN.get(message.DESCRIPTOR.full_name)
    if checker is not None:
        checker(v, prefix.rstrip("."), message)
        return
    for field, value in message.ListFields():
        kind = _kinds.get(field) or _kind(field)
        path = prefix + field.name
        if kind is _MAP:
            entry = field.message_type
            assert entry is not None  # a map field's entries are a message type
            value_field = entry.fields_by_name["value"]
            for key in value:
                key_path = f"{path}[{key!r}]"
                if isinstance(key, str) and not check_incoming_text(v, key_path, key):
                    continue
                _check_value(v, key_path, value_field, value[key])
        elif kind is _REPEATED:
            for i, item in enumerate(value):
                _check_value(v, f"{path}[{i}]", field, item)
        else:
            _check_value(v, path, field, value)


def _check_value(v: Violations, path: str, field: FieldDescriptor, value: Any) -> None:
    if field.type == FieldDescriptor.TYPE_STRING:
        check_incoming_text(v, path, value)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        enum_type = field.enum_type
        assert enum_type is not None  # set on every enum field
        if enum_type.values_by_number.get(value) is None:
            v.add(path, f"unknown value {value} of {enum_type.full_name}")
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        _check_message(v, path + ".", value)


# What each field is, worked out once (descriptor options are slow to read on every call).
_MAP, _REPEATED, _SINGLE = "map", "repeated", "single"
_kinds: dict[FieldDescriptor, str] = {}


def _kind(field: FieldDescriptor) -> str:
    descriptor: Descriptor | None = field.message_type
    if descriptor is not None and descriptor.GetOptions().map_entry:
        kind = _MAP
    else:
        kind = _REPEATED if field.is_repeated else _SINGLE
    _kinds[field] = kind
    return kind


def _check_timestamp(v: Violations, path: str, ts: Any) -> None:
    if not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS or not 0 <= ts.nanos <= _NANOS:
        v.add(path, "must be a time between 0001-01-01 and 9999-12-31 UTC, with nanos in [0, 999999999]")


def _check_duration(v: Violations, path: str, d: Any) -> None:
    if (not -MAX_DURATION_SECONDS <= d.seconds <= MAX_DURATION_SECONDS or not -_NANOS <= d.nanos <= _NANOS
            or (d.seconds > 0 > d.nanos) or (d.seconds < 0 < d.nanos)):
        v.add(path, f"must be a duration within ±{MAX_DURATION_SECONDS} seconds, with nanos within "
                    f"±{_NANOS} and of the seconds' sign")


_WELL_KNOWN: dict[str, Callable[[Violations, str, Any], None]] = {
    "google.protobuf.Timestamp": _check_timestamp,
    "google.protobuf.Duration": _check_duration,
}
