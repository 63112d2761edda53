"""Operational metrics in Prometheus' text format at ``GET /metrics`` (docs/metrics.md)."""
