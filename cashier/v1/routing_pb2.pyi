from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RouteCandidate(_message.Message):
    __slots__ = ("channel", "offered", "priority", "reason", "rule", "chosen")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    channel: str
    offered: bool
    priority: int
    reason: str
    rule: str
    chosen: bool
    def __init__(self, channel: _Optional[str] = ..., offered: _Optional[bool] = ..., priority: _Optional[int] = ..., reason: _Optional[str] = ..., rule: _Optional[str] = ..., chosen: _Optional[bool] = ...) -> None: ...

class Channel(_message.Message):
    __slots__ = ("name", "display_name", "plugin", "version", "actions", "platforms", "scenarios")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    plugin: str
    version: str
    actions: _containers.RepeatedScalarFieldContainer[str]
    platforms: _containers.RepeatedScalarFieldContainer[str]
    scenarios: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., plugin: _Optional[str] = ..., version: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ..., platforms: _Optional[_Iterable[str]] = ..., scenarios: _Optional[_Iterable[str]] = ...) -> None: ...
