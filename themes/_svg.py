"""SVG checks for uploaded logos: an allow-list, refusal over stripping, a re-serialised tree.

An SVG is a document that can run script and load other resources. Uploaded ones are parsed with
defusedxml (no DTD, no entities: no XXE, no billion laughs), every element and attribute is held
to an allow-list of static drawing features, and the *cleaned tree* is serialised again (the
uploaded bytes are never served). Anything outside the allow-list is refused with ``unsafe_svg``
naming the element or attribute, rather than removed: an admin learns what to fix instead of
finding a silently different logo. Two things are dropped because they never render: editor
metadata (``<metadata>``, Inkscape/Sodipodi/Illustrator/Sketch namespaces) and comments.
"""

from __future__ import annotations

import re
from typing import Final
from xml.etree.ElementTree import Element, ParseError, SubElement, TreeBuilder, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from whitelabel.errors import ValidationFailed

__all__ = ["clean_svg"]

SVG_NS: Final = "http://www.w3.org/2000/svg"
XLINK_NS: Final = "http://www.w3.org/1999/xlink"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
#: Namespaces of drawing programs' private data: never rendered, dropped.
EDITOR_NAMESPACES: Final = frozenset(
    {
        "http://www.inkscape.org/namespaces/inkscape",
        "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd",
        "http://ns.adobe.com/AdobeIllustrator/10.0/",
        "http://ns.adobe.com/Extensibility/1.0/",
        "http://ns.adobe.com/Graphs/1.0/",
        "http://ns.adobe.com/SaveForWeb/1.0/",
        "http://ns.adobe.com/Variables/1.0/",
        "http://ns.adobe.com/ImageReplacement/1.0/",
        "http://www.bohemiancoding.com/sketch/ns",
        "http://www.serif.com/",
    }
)
MAX_ELEMENTS: Final = 10_000
MAX_DEPTH: Final = 64

_FILTER_PRIMITIVES: Final = frozenset(
    {
        "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite", "feConvolveMatrix",
        "feDiffuseLighting", "feDisplacementMap", "feDistantLight", "feDropShadow", "feFlood",
        "feFuncA", "feFuncB", "feFuncG", "feFuncR", "feGaussianBlur", "feMerge", "feMergeNode",
        "feMorphology", "feOffset", "fePointLight", "feSpecularLighting", "feSpotLight", "feTile",
        "feTurbulence",
    }
)  # fmt: skip
#: Static drawing elements. Not here, so refused: script, foreignObject, image and feImage (load
#: other resources), a (links), animate/set/animateMotion/animateTransform (can rewrite links).
ALLOWED_ELEMENTS: Final = frozenset(
    {
        "svg", "g", "defs", "symbol", "use", "switch", "title", "desc", "style",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "pattern",
        "clipPath", "mask", "marker", "filter",
        *_FILTER_PRIMITIVES,
    }
)  # fmt: skip
#: Geometry, presentation and filter attributes (none loads anything or runs script).
ALLOWED_ATTRIBUTES: Final = frozenset(
    {
        "id", "class", "style", "lang", "role", "tabindex", "transform", "x", "y", "x1", "y1",
        "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr", "width", "height", "d",
        "points", "pathLength", "viewBox", "preserveAspectRatio", "version", "baseProfile",
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap",
        "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset",
        "stroke-opacity", "opacity", "color", "display", "visibility", "overflow", "clip-path",
        "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits", "mask-type",
        "filter", "filterUnits", "primitiveUnits", "gradientUnits", "gradientTransform",
        "spreadMethod", "offset", "stop-color", "stop-opacity", "patternUnits",
        "patternContentUnits", "patternTransform", "marker-start", "marker-mid", "marker-end",
        "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient", "font-family",
        "font-size", "font-size-adjust", "font-weight", "font-style", "font-variant",
        "font-stretch", "text-anchor", "dominant-baseline", "alignment-baseline",
        "baseline-shift", "letter-spacing", "word-spacing", "text-decoration", "writing-mode",
        "direction", "unicode-bidi", "dx", "dy", "rotate", "textLength", "lengthAdjust",
        "startOffset", "method", "spacing", "side", "href", "mix-blend-mode", "isolation",
        "shape-rendering", "text-rendering", "image-rendering", "color-interpolation",
        "color-interpolation-filters", "color-rendering", "vector-effect", "paint-order",
        "enable-background", "flood-color", "flood-opacity", "lighting-color", "in", "in2",
        "result", "stdDeviation", "edgeMode", "mode", "type", "values", "operator", "k1", "k2",
        "k3", "k4", "scale", "xChannelSelector", "yChannelSelector", "radius", "order",
        "kernelMatrix", "divisor", "bias", "targetX", "targetY", "preserveAlpha", "surfaceScale",
        "diffuseConstant", "specularConstant", "specularExponent", "kernelUnitLength", "azimuth",
        "elevation", "pointsAtX", "pointsAtY", "pointsAtZ", "limitingConeAngle", "z",
        "baseFrequency", "numOctaves", "seed", "stitchTiles", "tableValues", "slope", "intercept",
        "amplitude", "exponent", "requiredFeatures", "requiredExtensions", "systemLanguage",
        "media", "title"
    }
)  # fmt: skip
_FRAGMENT = re.compile(r"#[A-Za-z_][\w.:-]{0,200}")
_SAME_DOCUMENT_URL = re.compile(r"url\(\s*([\"']?)#[a-z_][\w.:-]*\1\s*\)")
# CSS that can load or run something even without url(): refused wherever CSS is accepted.
_CSS_LOADERS: Final = ("image(", "image-set(", "cross-fade(", "element(", "expression(")
_CSS_WORDS: Final = ("javascript:", "-moz-binding", "behavior")
_ENCODING = re.compile(rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_LENGTH = re.compile(r"\s*(\d{1,6}(?:\.\d+)?)\s*(?:px)?\s*")


def _unsafe(message: str) -> ValidationFailed:
    return ValidationFailed(f"this SVG cannot be used: {message}", code="unsafe_svg")


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_image")


class _Builder(TreeBuilder):
    """A tree builder that notes processing instructions (xml-stylesheet can load XSLT)."""

    def __init__(self) -> None:
        super().__init__()
        self.instructions: list[str] = []

    def pi(self, target: str, text: str | None = None) -> Element:
        self.instructions.append(target)
        return super().pi(target, text)


def _split(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _css_problem(css: str, where: str, *, stylesheet: bool) -> str | None:
    lowered = css.lower()
    if "\\" in css:
        return f"{where}: CSS escapes (backslashes) are not allowed"
    if "<" in css:
        return f"{where}: '<' is not allowed in CSS"
    if stylesheet and "@" in css:
        return f"{where}: @-rules such as @import and @font-face are not allowed"
    if "url(" in _SAME_DOCUMENT_URL.sub("", lowered):
        return f"{where}: url() may only point inside the document, as url(#id)"
    for word in (*_CSS_LOADERS, *_CSS_WORDS):
        if word in lowered:
            return f"{where}: {word.rstrip('(:')} is not allowed in CSS"
    return None


def _clean_attributes(element: Element, local: str) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for name, value in element.attrib.items():
        namespace, attribute = _split(name)
        where = f"attribute {attribute!r} on <{local}>"
        if namespace in EDITOR_NAMESPACES:
            continue
        if attribute.lower().startswith("on"):
            raise _unsafe(f"event handler {where} (scripts are not allowed)")
        if namespace == XLINK_NS and attribute == "href":
            name = "href"  # SVG 2 spelling; every current browser reads it
        elif namespace == XML_NS and attribute in ("space", "lang"):
            pass
        elif namespace or not (
            attribute in ALLOWED_ATTRIBUTES or attribute.startswith(("data-", "aria-"))
        ):
            raise _unsafe(f"{where} is not allowed")
        if attribute == "href":
            if not _FRAGMENT.fullmatch(value):
                raise _unsafe(f"{where} may only point inside the document (#id), not elsewhere")
        elif (problem := _css_problem(value, where, stylesheet=False)) is not None:
            raise _unsafe(problem)
        cleaned[name] = value
    return cleaned


def _check_element(element: Element) -> str | None:
    """The local name of an element to keep, ``None`` for one to drop; raises if unsafe."""
    if not isinstance(element.tag, str):
        return None  # comments and processing instructions are not inserted; defensive
    namespace, local = _split(element.tag)
    if namespace in EDITOR_NAMESPACES or (namespace == SVG_NS and local == "metadata"):
        return None
    if namespace != SVG_NS:
        raise _unsafe(f"element <{local}> from another namespace ({namespace or 'none'})")
    if local not in ALLOWED_ELEMENTS:
        reason = {
            "script": "scripts are not allowed",
            "foreignObject": "it can embed HTML",
            "image": "it loads another image; upload a PNG instead of an SVG that embeds one",
            "feImage": "it loads another image",
            "a": "links are not allowed in a logo",
        }.get(local, "only static drawing elements are allowed")
        raise _unsafe(f"element <{local}>: {reason}")
    if local == "style":
        if element.get("type", "text/css") != "text/css" or len(element):
            raise _unsafe("<style> may only hold plain CSS")
        problem = _css_problem(element.text or "", "<style>", stylesheet=True)
        if problem is not None:
            raise _unsafe(problem)
    return local


def _append_text(parent: Element, text: str | None) -> None:
    if not text:
        return
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _rebuild(root: Element) -> Element:
    """A clean copy of ``root`` (iterative: hostile nesting cannot exhaust the stack)."""
    # The copy uses bare tag names and declares the SVG namespace itself: its only namespace
    # (every element was checked to be SVG; xlink:href became href; xml:space is predefined).
    _check_element(root)
    clean = Element("svg", {"xmlns": SVG_NS, **_clean_attributes(root, "svg")})
    clean.text = root.text
    stack = [(root, clean, 1)]
    count = 1
    while stack:
        source, target, depth = stack.pop()
        for child in source:
            count += 1
            if count > MAX_ELEMENTS or depth >= MAX_DEPTH:
                raise _unsafe(f"more than {MAX_ELEMENTS} elements or {MAX_DEPTH} levels of nesting")
            local = _check_element(child)
            if local is None:
                _append_text(target, child.tail)
                continue
            copy = SubElement(target, local, _clean_attributes(child, local))
            copy.text, copy.tail = child.text, child.tail
            stack.append((child, copy, depth + 1))
    return clean


def _check_uses(root: Element) -> None:
    """Refuse <use> of content that holds <use>: nested references grow exponentially."""
    use_tag = "use"
    ids = {element.get("id"): element for element in root.iter() if element.get("id")}
    for use in root.iter(use_tag):
        target = ids.get((use.get("href") or "")[1:])
        if target is not None and any(True for _ in target.iter(use_tag)):
            raise _unsafe("<use> may not point at content that itself contains <use>")


def _size(root: Element) -> tuple[int, int]:
    width, height = (_LENGTH.fullmatch(root.get(name) or "") for name in ("width", "height"))
    if width and height:
        return round(float(width.group(1))), round(float(height.group(1)))
    box = (root.get("viewBox") or "").replace(",", " ").split()
    try:
        return round(float(box[2])), round(float(box[3]))
    except (IndexError, ValueError):
        return 0, 0


def clean_svg(data: bytes) -> tuple[bytes, int, int]:
    """Check an SVG and answer ``(cleaned UTF-8 bytes, width, height)`` (0 when not stated).

    Raises:
        ValidationFailed: ``invalid_image`` (not UTF-8, not well-formed, no SVG namespace),
            ``unsupported_image`` (XML that is not SVG), ``unsafe_svg`` (DTD, entities,
            processing instructions, disallowed elements or attributes, references outside the
            document, nested ``<use>``, too many elements).
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("an SVG must be encoded as UTF-8") from None
    declared = _ENCODING.match(data.lstrip(b"\xef\xbb\xbf \t\r\n"))
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        raise _invalid("an SVG must be encoded as UTF-8")
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:
        raise _unsafe(
            "DTDs and entity declarations are not allowed (export without a DOCTYPE)"
        ) from None
    except ParseError as exc:
        raise _invalid(f"this SVG is not well-formed XML ({exc})") from None
    if builder.instructions:
        raise _unsafe(f"processing instruction <?{builder.instructions[0]}?> is not allowed")
    namespace, local = _split(root.tag)
    if local.lower() != "svg":
        raise ValidationFailed(
            f"not an SVG image (the document is <{local}>)", code="unsupported_image"
        )
    if namespace != SVG_NS:
        raise _invalid(f'an SVG needs xmlns="{SVG_NS}" on its <svg> element')
    clean = _rebuild(root)
    _check_uses(clean)
    width, height = _size(clean)
    return tostring(clean, encoding="unicode").encode(), width, height
