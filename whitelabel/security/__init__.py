"""Request security shared by every module: derived keys, CSRF protection, rate limits."""
