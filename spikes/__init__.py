"""Throw-away experiments, each measured beside what it would replace; nothing here is imported by the gateway."""
