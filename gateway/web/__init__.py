"""The HTTP face: /healthz and /metrics now; channel notifications and hosted pages join it later."""
