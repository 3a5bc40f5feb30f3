"""whitelabel: many branded apps from one codebase and one PostgreSQL cluster."""

__all__ = ["__version__"]

__version__ = "0.1.0"
