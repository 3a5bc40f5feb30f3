"""The tenant's branded app pages (the landing page; accounts and themes add more)."""

from whitelabel.pages.plugin import PagesPlugin

__all__ = ["PagesPlugin"]
