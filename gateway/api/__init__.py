"""The gRPC face: thin servicers, one interceptor (request id, auth, errors, metrics), create_server()."""
