"""Bulk import of contacts, orders, products and events from CSV and XLSX."""
