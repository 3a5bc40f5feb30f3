"""Tenant copy blocks: Markdown to sanitised HTML, once, when the brand is saved.

Two layers (issue 4): markdown-it-py renders CommonMark with raw HTML disabled (so ``<script>``
in the source comes out as text) and refuses dangerous link schemes; nh3 (ammonia) then keeps an
allow-list of tags and attributes and only http(s)/mailto links or same-site paths, and adds
``rel="noopener noreferrer nofollow"``. The HTML is therefore safe to insert unescaped.
"""

from __future__ import annotations

import functools
from typing import Final

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from whitelabel.errors import ValidationFailed

__all__ = ["ALLOWED_TAGS", "MAX_SOURCE_LENGTH", "render_copy"]

MAX_SOURCE_LENGTH: Final = 5000
ALLOWED_TAGS: Final = frozenset(
    {
        "p",
        "a",
        "strong",
        "em",
        "ul",
        "ol",
        "li",
        "code",
        "pre",
        "blockquote",
        "h2",
        "h3",
        "h4",
        "br",
    }
)
# Markdown's # is <h1>, which belongs to the page; copy headings start at <h2> (and end at <h4>).
_HEADING: Final = {"h1": "h2", "h5": "h4", "h6": "h4"}


def _relative_url(url: str) -> str | None:
    """Keep a same-site path (``/signup``) or fragment; drop anything else without a scheme."""
    if url.startswith("#") or (url.startswith("/") and not url.startswith(("//", "/\\"))):
        return url
    return None


@functools.cache
def _markdown() -> MarkdownIt:
    # "commonmark" enables raw HTML; it is switched off. Link schemes are also checked by
    # markdown-it's validateLink (javascript:, vbscript:, file:, data: refused).
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        attributes={"a": {"href", "title"}, "ol": {"start"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        url_relative=_relative_url,
    )


def render_copy(source: str) -> str:
    """Render a copy block's Markdown to HTML that is safe to insert unescaped.

    Headings are shifted into ``h2``-``h4``; images become their alt text; raw HTML in the
    source is shown as text; links keep only http, https and mailto URLs or same-site
    paths, with ``rel="noopener noreferrer nofollow"``.

    Raises:
        ValidationFailed: ``copy_too_long`` if ``source`` has more than 5000 characters.
    """
    if len(source) > MAX_SOURCE_LENGTH:
        raise ValidationFailed(
            f"copy blocks are at most {MAX_SOURCE_LENGTH} characters",
            code="copy_too_long",
            detail={"max": MAX_SOURCE_LENGTH, "length": len(source)},
        )
    md = _markdown()
    tokens = md.parse(source)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = _HEADING.get(token.tag, token.tag)
        elif token.type == "inline" and token.children:
            # Copy may not load images (tracking pixels, other sites' content): keep the alt text.
            token.children = [
                Token("text", "", 0, content=child.content) if child.type == "image" else child
                for child in token.children
            ]
    html = md.renderer.render(tokens, md.options, {})
    return _cleaner().clean(html)
