"""Channels: each speaks its real protocol behind the interface in ``base.py``."""
