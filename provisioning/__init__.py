"""Tenant onboarding for platform staff and billing with revenue share (built on the kernel)."""
