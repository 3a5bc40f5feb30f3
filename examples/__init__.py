"""Runnable examples built on whitelabel; a test under ``tests/examples/`` runs each one."""
