"""Everything Alipay, in three packages that do different jobs and may not lean on each other's code:

* :mod:`channels.alipay.rail`: the Alipay Open Platform client (signing, keys, request parameters,
  transport and retries, results and outcomes, notification verification, bills). Depends on
  ``cryptography``, ``httpx`` and the standard library only.
* :mod:`channels.alipay.toolkit`: what channels that pay through Alipay share, in the plugin contract's
  terms (the ``[channels.alipay]`` settings, notification, status and refund mixins, scan to pay).
* :mod:`channels.alipay.sandbox`: a local Alipay-compatible gateway for tests and demos, with its own
  signing code; it imports nothing of the rail it checks.

This module imports none of them, so loading the sandbox does not load the rail. pyproject.toml's
import-linter contracts hold these rules.
"""
