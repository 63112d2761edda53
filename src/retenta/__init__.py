"""Retenta: a self-hostable customer data and retention platform for B2C e-commerce."""

__version__ = "0.1.0"
