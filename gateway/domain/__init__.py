"""Plain-Python model of payments, merchants, apps and routing. Imports no gRPC, SQL or plugin code."""
