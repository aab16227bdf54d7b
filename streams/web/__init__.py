"""HTTP side of the worker: the API, health, metrics and the dashboard."""
