"""A local Alipay-compatible gateway for tests, demos and offline integration.

It never imports the client rail in ``channels.alipay.rail``: its signing and verification are its own.

    from channels.alipay.sandbox import SandboxConfig, start_in_thread
    handle = start_in_thread(SandboxConfig(port=0, apps={"2021000000000001": app_public_key_pem}))
    ...  # point the client at handle.gateway_url
    handle.stop()

Comments cite client code the sandbox was checked against by the rail's source tags (listed in
``channels.alipay.rail``'s docstring), e.g. **FZ** for fzlee/alipay, the community Python SDK.
"""

from .app import create_app
from .config import SandboxConfig
from .core import Sandbox
from .server import SandboxHandle, serve_forever, start_in_thread

__all__ = ["Sandbox", "SandboxConfig", "SandboxHandle", "create_app", "serve_forever", "start_in_thread"]
