"""Writing the bench's configuration file: the user's `--config` (kept whole, e.g. channel keys) plus
the bench's own settings. tomllib only reads, so this writes the small TOML subset settings need."""

from __future__ import annotations

import json
from typing import Any


def _value(value: Any) -> str:
    # JSON strings, numbers and arrays are valid TOML; tables become inline tables.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {type(value).__name__} values into the bench configuration")


def dumps(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(key), ensure_ascii=False)} = {_value(value)}\n" for key, value in data.items())
