"""Issue 20's spike: CreatePayment on `grpc.aio`, one event loop per worker (see README.md)."""
