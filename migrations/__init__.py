"""Alembic environment and the two version streams: ``platform/`` and ``tenant/``."""
