"""Use cases. Handlers take a command and the ports they need; they know no gRPC, SQL or plugins."""
