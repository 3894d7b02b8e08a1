"""The Alipay toolkit: what every channel that pays through Alipay shares, in the plugin contract's terms.

The rail (:mod:`channels.alipay.rail`) speaks Alipay's protocol and knows nothing of the gateway; this
package joins it to the plugin contract (:mod:`channels.contract`). Built-in channels (mobile, pc,
shared_link) and third-party Alipay channels build on it:

* :class:`AlipaySettings`: the shared ``[channels.alipay]`` table, its keys and one rail client.
* :class:`AlipayNotifications`, :class:`AlipayStatus`, :class:`AlipayRefunds`: mixins that give a channel
  the notification, status/close and refund capabilities; :func:`notify_url` is where Alipay notifies.
* :func:`precreate_qr_code` and :class:`PrecreateFailed`: scan to pay; :func:`describe_answer` words an
  Alipay answer for an operator.

Channels stay independent of each other (import-linter): what two of them share lives here.
"""

from channels.alipay.toolkit.notifications import AlipayNotifications, notify_url
from channels.alipay.toolkit.precreate import PrecreateFailed, describe_answer, precreate_qr_code
from channels.alipay.toolkit.refunds import AlipayRefunds
from channels.alipay.toolkit.settings import AlipaySettings
from channels.alipay.toolkit.status import AlipayStatus

__all__ = [
    "AlipayNotifications",
    "AlipayRefunds",
    "AlipaySettings",
    "AlipayStatus",
    "PrecreateFailed",
    "describe_answer",
    "notify_url",
    "precreate_qr_code",
]
