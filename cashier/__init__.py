"""Unified Cashier's public contract: generated gRPC stubs live in `cashier.v1`."""
