"""Storage: small interfaces (``base``) and the adapters that implement them."""
