"""Segmentation: definitions, compilation, membership and segments as documented objects."""
