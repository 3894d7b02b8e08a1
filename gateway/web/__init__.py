"""The HTTP face: /healthz, /metrics, channel notifications and the hosted checkout pages."""
