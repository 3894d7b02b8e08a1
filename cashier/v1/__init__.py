"""Generated stubs for the `cashier.v1` protos. Regenerate with `make proto`; never edit the *_pb2 files."""
