"""Email: MJML rendering, MIME, DKIM."""
