"""The buyer's client as the trading app describes it: what routing and every channel decide on.

Owned by the contract because channels declare and test these values; the gateway's domain uses the same
classes (gateway/domain/payments.py), so a new platform is added in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Platform(enum.Enum):
    IOS_APP = "IOS_APP"
    ANDROID_APP = "ANDROID_APP"
    HARMONYOS_APP = "HARMONYOS_APP"
    PC_BROWSER = "PC_BROWSER"
    MOBILE_BROWSER = "MOBILE_BROWSER"
    IN_APP_BROWSER = "IN_APP_BROWSER"

    @property
    def is_platform_app(self) -> bool:
        return self in (Platform.IOS_APP, Platform.ANDROID_APP, Platform.HARMONYOS_APP)


class Scenario(enum.Enum):
    POST_PRODUCT_CARD = "POST_PRODUCT_CARD"
    SHOP_HOME = "SHOP_HOME"
    SHARED_LINK = "SHARED_LINK"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    platform: Platform
    app_name: str = ""
    app_version: str = ""
    user_agent: str = ""
