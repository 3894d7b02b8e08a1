"""Unified Cashier's payment channels (not Django Channels: see `IS_CASHIER_CHANNELS`).

`channels.contract` is the plugin contract channel developers read and import; `channels.alipay` holds the
Alipay rail client (`channels.alipay.rail`), the toolkit Alipay-based channels share (`channels.alipay.toolkit`)
and a local Alipay sandbox; the other packages are the built-in plugins, each loaded through an entry point like
a third-party one.
"""

# Django Channels also installs a top-level `channels` package. The gateway's plugin manager checks this marker
# so that a clash gives a clear start-up error instead of strange attribute errors later.
IS_CASHIER_CHANNELS = True
