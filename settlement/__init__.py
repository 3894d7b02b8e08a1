"""Settlement: turns paid and refunded payments into exact balances and payouts, and proves them against
Alipay's statements. Layered like the gateway: `settlement.domain` is plain Python (no SQL, gRPC or plugins;
import-linter holds it to that); the service layer, storage and entry points come on top of it."""
