"""Per-tenant single sign-on: SAML 2.0 and OpenID Connect connections (built on the kernel)."""
