"""themes._svg through process_image: hostile SVGs are refused by name; safe ones re-serialised."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from themes._svg import MAX_DEPTH, MAX_ELEMENTS
from themes.assets import process_image
from whitelabel.errors import ValidationFailed

NS = 'xmlns="http://www.w3.org/2000/svg"'
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'


def svg(body: str, attrs: str = "") -> bytes:
    return f"<svg {NS} {XLINK} {attrs}>{body}</svg>".encode()


def refused(data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        process_image(data, purpose="logo")
    return caught.value


UNSAFE = [
    # (svg, words the message must contain)
    (svg("<script>alert(1)</script>"), ["<script>"]),
    (svg('<script xlink:href="https://evil.example/x.js"/>'), ["<script>"]),
    (svg("<g><g><script>alert(1)</script></g></g>"), ["<script>"]),
    (svg("", 'onload="alert(1)"'), ["onload", "<svg>"]),
    (svg('<rect onclick="alert(1)"/>'), ["onclick", "<rect>"]),
    (svg('<rect ONMOUSEOVER="alert(1)"/>'), ["ONMOUSEOVER"]),
    (svg('<circle r="1" onbegin="x"/>'), ["onbegin"]),
    (
        svg("<foreignObject><body xmlns='http://www.w3.org/1999/xhtml'/></foreignObject>"),
        ["foreignObject"],
    ),
    (svg('<image href="https://evil.example/x.png"/>'), ["<image>"]),
    (svg('<image xlink:href="data:image/png;base64,AAAA"/>'), ["<image>"]),
    (svg('<filter id="f"><feImage href="https://evil.example/x.png"/></filter>'), ["feImage"]),
    (svg('<a href="https://evil.example"><rect/></a>'), ["<a>"]),
    (svg('<a xlink:href="javascript:alert(1)"><rect/></a>'), ["<a>"]),
    (svg('<use href="http://evil.example/sprite.svg#icon"/>'), ["href", "<use>"]),
    (svg('<use xlink:href="https://evil.example/s.svg#i"/>'), ["href", "<use>"]),
    (svg('<use href="data:image/svg+xml;base64,PHN2Zz4="/>'), ["href", "<use>"]),
    (svg('<use href="javascript:alert(1)"/>'), ["href"]),
    (svg('<use href="sprite.svg#i"/>'), ["href"]),
    (svg('<linearGradient id="g" href="//evil.example/g.svg#g"/>'), ["href"]),
    (svg('<textPath href="#p onclick"/>'), ["href"]),
    (svg('<set attributeName="href" to="javascript:alert(1)"/>'), ["<set>"]),
    (svg('<animate attributeName="href" values="javascript:alert(1)"/>'), ["<animate>"]),
    (svg("<animateTransform/>"), ["animateTransform"]),
    (svg("<style>@import url(https://evil.example/x.css);</style>"), ["@"]),
    (svg("<style>rect{fill:url(https://evil.example/x.svg#p)}</style>"), ["url()"]),
    (svg("<style>rect{fill:URL( 'http://evil.example/p' )}</style>"), ["url()"]),
    (svg("<style>rect{background:u\\72l(http://evil.example)}</style>"), ["escapes"]),
    (svg("<style>@font-face{src:'https://evil.example/f.woff'}</style>"), ["@"]),
    (
        svg("<style>rect{background-image:image-set('https://evil.example/x.png' 1x)}</style>"),
        ["image-set"],
    ),
    (svg("<style>rect{width:expression(alert(1))}</style>"), ["expression"]),
    (svg('<style type="text/xsl">x</style>'), ["<style>"]),
    (svg("<style>uurl(#a)rl(https://evil.example)</style>"), ["url()"]),
    (svg("<style>&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;</style>"), ["<"]),
    (svg('<rect style="fill:url(https://evil.example/p)"/>'), ["style", "url()"]),
    (svg('<rect style="behavior:url(x.htc)"/>'), ["style"]),
    (svg('<rect style="-moz-binding:x"/>'), ["-moz-binding"]),
    (svg('<rect fill="url(https://evil.example/p.svg#g)"/>'), ["fill", "url()"]),
    (svg('<rect filter="url(http://evil.example/f.svg#f)"/>'), ["filter"]),
    (svg('<rect mask="url(data:image/svg+xml,x)"/>'), ["mask"]),
    (svg('<rect cursor="url(https://evil.example/c.cur)"/>'), ["cursor"]),
    (svg('<rect fill="u\\rl(x)"/>'), ["escapes"]),
    (svg('<rect formaction="x"/>'), ["formaction"]),
    (svg('<rect xlink:title="x"/>'), ["title"]),
    (svg('<rect xmlns:ev="http://www.w3.org/2001/xml-events" ev:event="click"/>'), ["event"]),
    (
        svg('<html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(1)</html:script>'),
        ["another namespace"],
    ),
    (svg("<iframe/>".replace("<iframe", '<iframe xmlns=""')), ["another namespace"]),
    (svg("<view/>"), ["<view>"]),
    (svg('<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g>'), ["<use>"]),
    (svg('<g id="a"><use href="#a"/></g>'), ["<use>"]),
    (
        svg(
            '<g id="l0"><path d="M0 0"/></g>'
            + "".join(
                f'<g id="l{i}"><use href="#l{i - 1}"/><use href="#l{i - 1}"/></g>'
                for i in range(1, 20)
            )
        ),
        ["<use>"],
    ),
    (
        b'<?xml-stylesheet type="text/xsl" href="https://evil.example/x.xsl"?>' + svg(""),
        ["xml-stylesheet"],
    ),
    (svg("<g><?php echo 1 ?></g>"), ["php"]),
    (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + svg("<text>&xxe;</text>"),
        ["DTD"],
    ),
    (
        b'<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' + svg("<text>&c;</text>"),
        ["DTD"],
    ),
    (
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">' + svg(""),
        ["DTD"],
    ),
    (b'<!DOCTYPE svg SYSTEM "https://evil.example/x.dtd">' + svg(""), ["DTD"]),
    (
        b"<svg " + NS.encode() + b">" + b"<g>" * MAX_DEPTH + b"</g>" * MAX_DEPTH + b"</svg>",
        ["nesting"],
    ),
    (svg("<rect/>" * MAX_ELEMENTS), ["elements"]),
]


@pytest.mark.parametrize(("data", "words"), UNSAFE)
def test_unsafe_svgs_are_refused_naming_the_problem(data: bytes, words: list[str]) -> None:
    error = refused(data)
    assert error.code == "unsafe_svg", error.message
    for word in words:
        assert word in error.message


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<svg><rect/></svg>", "invalid_image"),  # no SVG namespace
        (b'<svg xmlns="http://www.w3.org/1999/xhtml"/>', "invalid_image"),
        (svg("<rect>"), "invalid_image"),  # not well-formed
        (svg("&undefined;"), "invalid_image"),
        (b"<svg " + NS.encode() + b">" + b"\xff\xfe" + b"</svg>", "invalid_image"),  # not UTF-8
        ('<svg xmlns="http://www.w3.org/2000/svg"/>'.encode("utf-16"), "unsupported_image"),
        (b'<?xml version="1.0" encoding="UTF-7"?>' + svg("+ADw-script+AD4-"), "invalid_image"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + svg(""), "invalid_image"),
        (b"<x:svg xmlns:x='urn:other'/>", "invalid_image"),
        (b"<rss><channel/></rss>", "unsupported_image"),
        (b"<p>hello</p>", "unsupported_image"),
        (b"<", "invalid_image"),
        (svg("") + b"<svg " + NS.encode() + b"/>", "invalid_image"),  # two roots
    ],
)
def test_malformed_or_non_svg_markup(data: bytes, code: str) -> None:
    assert refused(data).code == code


def test_a_typical_exported_logo_is_accepted_and_reserialised() -> None:
    source = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        b"<!-- Generator: Inkscape -->\n"
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        b'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
        b'xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd" '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'width="120px" height="40" viewBox="0 0 120 40" version="1.1" '
        b'inkscape:version="1.3" xml:space="preserve" data-name="Logo">'
        b"<title>Acme</title><desc>The Acme logo</desc>"
        b"<metadata><rdf:RDF><rdf:Description/></rdf:RDF></metadata>"
        b'<sodipodi:namedview id="nv" inkscape:zoom="2"/>'
        b'<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#f60"/>'
        b'<stop offset="1" stop-color="rgb(0, 0, 128)" stop-opacity=".5"/></linearGradient>'
        b'<linearGradient id="g2" xlink:href="#g" gradientTransform="rotate(90)"/>'
        b'<clipPath id="c"><rect width="120" height="40" rx="6"/></clipPath>'
        b'<filter id="f"><feGaussianBlur stdDeviation="1" in="SourceGraphic"/></filter>'
        b'<symbol id="dot"><circle r="3" cx="3" cy="3"/></symbol></defs>'
        b"<style>.a{fill:url(#g)} .b { stroke: url( '#g2' ); font-family: 'Acme Sans' }</style>"
        b"<!-- a comment -->"
        b'<g clip-path="url(#c)" filter="url(#f)" transform="translate(1 1)">'
        b'<path class="a" d="M0 0h120v40H0z" fill-rule="evenodd"/>'
        b'<use xlink:href="#dot" x="10" y="10"/><use href="#dot" x="20" y="10"/>'
        b'<text x="40" y="25" style="font-weight:700;fill:#fff" font-size="14">Ac<!--x-->me '
        b'<tspan fill="url(#g)">Inc</tspan> &amp; Co</text></g></svg>\n'
    )
    asset = process_image(source, purpose="logo")
    assert (asset.content_type, asset.ext, asset.width, asset.height) == (
        "image/svg+xml",
        "svg",
        120,
        40,
    )
    out = asset.data
    assert out != source
    assert out.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"')
    for gone in (b"<!--", b"inkscape", b"sodipodi", b"metadata", b"rdf", b"xlink", b"<?xml"):
        assert gone not in out
    assert b'<use href="#dot" x="10" y="10" />' in out
    assert b"Acme <tspan" in out and b"</tspan> &amp; Co</text>" in out
    assert b"url(#g)" in out and b'data-name="Logo"' in out and b'xml:space="preserve"' in out
    # The output parses as plain SVG with only SVG elements.
    root = ElementTree.fromstring(out)
    assert {e.tag.split("}")[0] for e in root.iter()} == {"{http://www.w3.org/2000/svg"}
    # And is itself accepted unchanged: cleaning is idempotent.
    assert process_image(out, purpose="logo").data == out


@pytest.mark.parametrize(
    ("attrs", "size"),
    [
        ('width="64" height="32"', (64, 32)),
        ('width="64.6px" height="32px"', (65, 32)),
        ('viewBox="0 0 300 100"', (300, 100)),
        ('viewBox="0,0,30.4,10"', (30, 10)),
        ('width="100%" height="100%" viewBox="0 0 10 20"', (10, 20)),
        ('width="10em" height="2em"', (0, 0)),
        ("", (0, 0)),
    ],
)
def test_declared_size(attrs: str, size: tuple[int, int]) -> None:
    asset = process_image(svg("<rect/>", attrs), purpose="favicon")
    assert (asset.width, asset.height) == size


def test_bom_and_leading_whitespace_are_fine() -> None:
    asset = process_image(b"\xef\xbb\xbf\n  " + svg("<rect/>"), purpose="logo")
    assert asset.data.startswith(b"<svg")


def test_character_references_are_resolved_before_checking() -> None:
    # &#106; is "j": the check sees the decoded value.
    error = refused(svg('<use href="&#106;avascript:alert(1)"/>'))
    assert error.code == "unsafe_svg"
    error = refused(svg('<rect fill="&#117;rl(https://evil.example/p)"/>'))
    assert error.code == "unsafe_svg"


def test_cdata_style_is_checked_like_text() -> None:
    error = refused(svg("<style><![CDATA[@import 'https://evil.example/x.css';]]></style>"))
    assert error.code == "unsafe_svg"
    asset = process_image(svg("<style><![CDATA[rect{fill:#000}]]></style>"), purpose="logo")
    assert b"<style>rect{fill:#000}</style>" in asset.data


def test_use_of_content_without_use_is_fine() -> None:
    body = '<g id="a"><rect/></g>' + '<use href="#a"/>' * 50
    assert process_image(svg(body), purpose="logo").data.count(b"<use") == 50


def test_text_content_is_escaped_on_output() -> None:
    asset = process_image(
        svg("<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"), purpose="logo"
    )
    assert b"<script" not in asset.data
    assert b"&lt;script&gt;" in asset.data


def test_size_limit_applies_to_svg() -> None:
    data = svg("<desc>" + "x" * (512 * 1024) + "</desc>")
    with pytest.raises(ValidationFailed) as caught:
        process_image(data, purpose="favicon")
    assert caught.value.code == "image_too_large"
