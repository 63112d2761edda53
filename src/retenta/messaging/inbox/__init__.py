"""In-app messages and the app inbox; mobile device tokens (docs/messaging-mobile.md)."""
