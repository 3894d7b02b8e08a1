"""Client app versions, compared the way the router's `app_version` rules compare them (PEP 440)."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

__all__ = ["Version", "parse_version"]


def parse_version(text: str) -> Version | None:
    """The version in `text`, or None when it is empty or not a version (treat it as unknown)."""
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None
