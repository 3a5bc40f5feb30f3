"""The tenant admin's branding pages: the editor at ``/admin/branding``, its draft previews and
its own static files (HTML; the JSON API is ``themes.controllers``).

``ThemesPlugin`` registers :data:`PAGE_HANDLERS`:

- ``GET /admin/branding``: the editor (colour pickers with live contrast, names, font, radius,
  links, copy blocks, logo and favicon, side-by-side previews, history with restore);
- ``POST /admin/branding``: save the form into the draft (``action=save``) or save and publish
  it (``action=publish``); ``POST /admin/branding/versions/{version}/restore``;
- ``GET /admin/branding/preview/{landing|login|signup}``: the page with the draft brand;
- ``GET /admin/branding/static/{editor.js|editor.css}``.
"""

from __future__ import annotations

from typing import Any

from themes.pages._editor import BrandingPageController
from themes.pages._preview import PREVIEW_PAGES, BrandingPreviewController
from themes.pages._static import editor_static

__all__ = [
    "PAGE_HANDLERS",
    "PREVIEW_PAGES",
    "BrandingPageController",
    "BrandingPreviewController",
    "editor_static",
]

#: The route handlers of the branding pages, for ``ThemesPlugin`` to register.
PAGE_HANDLERS: list[Any] = [BrandingPageController, BrandingPreviewController, editor_static]
