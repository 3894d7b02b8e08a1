"""Unified Cashier's channel plugin contract (not Django Channels: see `IS_CASHIER_CHANNELS`).

Channel developers read `channels.hookspecs` (the hooks) and `channels.protocol` (the Channel protocol).
"""

# Django Channels also installs a top-level `channels` package. The manager checks this marker so that
# a clash gives a clear start-up error instead of strange attribute errors later.
IS_CASHIER_CHANNELS = True
