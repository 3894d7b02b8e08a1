"""The Unified Cashier gateway: domain, service layer, storage, gRPC and HTTP faces, CLI."""
