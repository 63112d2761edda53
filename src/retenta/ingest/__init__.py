"""Segment-compatible ingestion: validation, dedup, dead letters, the durable write path."""
