"""E-commerce entities: catalog, orders, carts, wishlists, searches, custom data tables."""
