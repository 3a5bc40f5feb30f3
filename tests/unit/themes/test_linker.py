"""Template linking (themes.linker): a linked template renders exactly what Jinja's own
inheritance renders, for every construct it accepts, and refuses the ones it cannot reproduce."""

from __future__ import annotations

import traceback
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, StrictUndefined, TemplateNotFound, UndefinedError

from themes.engine import LinkedRenderMismatch, ThemedTemplateEngine, shared_engine
from themes.linker import LinkRefused, link_template
from themes.registry import theme_names

from .test_engine import facts, request_with, snapshot, tenant

LAYOUT = """<html><title>{% block title %}Site{% endblock %}</title>
<body>{% block body %}<main>{% block content %}{% endblock %}</main>{% endblock %}
{% block footer %}{% include "_footer.html" %}{% endblock %}</body></html>"""


def env(**templates: str) -> Environment:
    return Environment(
        loader=DictLoader(
            {
                "layout.html": LAYOUT,
                "_footer.html": "<footer>{{ name }}</footer>",
                "_loop.html": "{{ loop.index }}",
                **templates,
            }
        ),
        undefined=StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
    )


def both(environment: Environment, context: dict[str, Any]) -> tuple[str, str]:
    """``page.html`` rendered through Jinja's inheritance, and linked."""
    return (
        environment.get_template("page.html").render(context),
        link_template(environment, "page.html").render(context),
    )


ACCEPTED: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "a child filling blocks": (
        {
            "page.html": '{% extends "layout.html" %}'
            "{% block content %}<p>{{ name }}</p>{% endblock %}"
        },
        {"name": "<b>Ada</b>"},
    ),
    "three levels, the most derived block wins": (
        {
            "base.html": '{% extends "layout.html" %}{% block title %}Base{% endblock %}'
            "{% block content %}base content{% endblock %}",
            "page.html": '{% extends "base.html" %}{% block content %}page{% endblock %}',
        },
        {"name": "x"},
    ),
    "a block nested in an overriding block is filled by a grandchild": (
        {
            "base.html": '{% extends "layout.html" %}{% block body %}<div>'
            "{% block inner %}default{% endblock %}</div>{% endblock %}",
            "page.html": '{% extends "base.html" %}{% block inner %}filled{% endblock %}',
        },
        {"name": "x"},
    ),
    "an overridden outer block drops the parent's nested blocks": (
        {
            "page.html": '{% extends "layout.html" %}{% block body %}only this{% endblock %}'
            "{% block content %}never shown{% endblock %}",
        },
        {"name": "x"},
    ),
    "a partial's own blocks are not overridden by the page": (
        {
            "_part.html": "<aside>{% block content %}partial's own{% endblock %}</aside>",
            "page.html": '{% extends "layout.html" %}{% block content %}page{% endblock %}'
            '{% block title %}{% include "_part.html" %}{% endblock %}',
        },
        {"name": "x"},
    ),
    "a partial's set does not leak into the page": (
        {
            "_part.html": "{% set name = 'partial' %}[{{ name }}]",
            "page.html": '{% extends "layout.html" %}{% block content %}'
            '{% include "_part.html" %}({{ name }}){% endblock %}',
        },
        {"name": "page"},
    ),
    "a partial sees the loop variable it is included under": (
        {
            "_item.html": "<li>{% for c in item %}{{ loop.index }}{{ c }}{% endfor %}</li>",
            "page.html": '{% extends "layout.html" %}{% block content %}{% for item in items %}'
            '{% include "_item.html" %}{% endfor %}{% endblock %}',
        },
        {"name": "x", "items": ["a", "<b>"]},
    ),
    "a missing partial with ignore missing": (
        {
            "page.html": '{% extends "layout.html" %}{% block content %}'
            '{% include "_nowhere.html" ignore missing %}ok{% endblock %}',
        },
        {"name": "x"},
    ),
    "a partial that extends a layout of its own": (
        {
            "_card.html": "<div>{% block card %}card{% endblock %}</div>",
            "_special.html": '{% extends "_card.html" %}{% block card %}special{% endblock %}',
            "page.html": '{% extends "layout.html" %}{% block content %}'
            '{% include "_special.html" %}{% endblock %}',
        },
        {"name": "x"},
    ),
    "a child's top-level set, import and macro reach its blocks": (
        {
            "_macros.html": "{% macro em(text) %}<em>{{ text }}</em>{% endmacro %}",
            "page.html": '{% extends "layout.html" %}{% from "_macros.html" import em %}'
            "{% set greeting = 'Hello' %}"
            "{% macro strong(t) %}<strong>{{ t }}</strong>{% endmacro %}"
            "{% block content %}{{ em(greeting) }} {{ strong(name) }}{% endblock %}",
        },
        {"name": "Ada"},
    ),
    "whitespace and comments between a child's blocks": (
        {
            "page.html": '{#- a comment -#}\n{% extends "layout.html" %}\n\n'
            "{% block content %}\n  text\n{% endblock %}\n",
        },
        {"name": "x"},
    ),
    "a template without a parent": (
        {"page.html": "{% block a %}A{% block b %}B{% endblock %}{% endblock %}{{ name }}"},
        {"name": "x"},
    ),
    "a scoped block in a loop": (
        {
            "page.html": "{% for i in [1, 2] %}{% block row scoped %}{{ i }}{% endblock %}"
            "{% endfor %}",
        },
        {},
    ),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_linked_output_is_jinjas(case: str) -> None:
    templates, context = ACCEPTED[case]
    expected, linked = both(env(**templates), context)
    assert linked == expected


def test_a_linked_template_has_no_inheritance_left() -> None:
    environment = env(
        **{"page.html": '{% extends "layout.html" %}{% block content %}x{% endblock %}'}
    )
    linked = link_template(environment, "page.html")
    assert linked.blocks == {}
    assert "parent_template" not in linked.root_render_func.__code__.co_names
    assert "get_template" not in linked.root_render_func.__code__.co_names


REFUSED = {
    "self": ("{% block a %}A{% endblock %}{{ self.a() }}", "uses `self`"),
    "super": (
        '{% extends "layout.html" %}{% block content %}{{ super() }}!{% endblock %}',
        "uses `super`",
    ),
    "a computed parent": ("{% extends parent %}", "a computed parent template name"),
    "extends in a statement": (
        '{% if true %}{% extends "layout.html" %}{% endif %}',
        "`extends` inside a statement",
    ),
    "two parents": (
        '{% extends "layout.html" %}{% extends "layout.html" %}',
        "more than one `extends`",
    ),
    "a computed partial": (
        "{% include partial %}",
        "an include of a computed name or of a list of names",
    ),
    "a list of partials": (
        '{% include ["_a.html", "_footer.html"] %}',
        "an include of a computed name or of a list of names",
    ),
    "a partial without context": (
        '{% include "_footer.html" without context %}',
        "an include without context ('_footer.html')",
    ),
    "output outside a child's blocks": (
        '{% extends "layout.html" %}stray text',
        "output outside the blocks of a child template",
    ),
    "an unfilled required block": (
        "{% block must required %}{% endblock %}",
        "required block 'must' is not filled",
    ),
    "a partial using the loop it is included in": (
        '{% for i in [1] %}{% include "_loop.html" %}{% endfor %}',
        "'_loop.html' uses loop",
    ),
    "an unscoped block in a loop": (
        "{% for i in [1] %}{% block row %}{{ i }}{% endblock %}{% endfor %}",
        "block 'row' inside a loop, with or macro is not scoped",
    ),
    "a cycle": ('{% include "page.html" %}', "inheritance or include cycle through 'page.html'"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_linking_cannot_reproduce_is_refused_with_the_reason(case: str) -> None:
    source, reason = REFUSED[case]
    with pytest.raises(LinkRefused) as refused:
        link_template(env(**{"page.html": source}), "page.html")
    assert refused.value.reason == reason
    assert refused.value.template == "page.html"


def test_a_missing_partial_or_parent_is_jinjas_not_found() -> None:
    for source in ('{% include "_gone.html" %}', '{% extends "gone.html" %}'):
        with pytest.raises(TemplateNotFound):
            link_template(env(**{"page.html": source}), "page.html")


# -- the engine: linked where it can, Jinja's inheritance where it cannot ------------------


def engine(**options: Any) -> ThemedTemplateEngine:
    return ThemedTemplateEngine(**options)


def test_pages_link_and_error_pages_fall_back() -> None:
    themed = engine()
    for name in theme_names():
        environment = themed.environment(name)
        assert themed.compiled(name, "landing.html") is not environment.get_template("landing.html")
        assert themed.compiled(name, "accounts/login.html").blocks == {}
        # error.html calls self.heading(): rendered through Jinja's inheritance.
        assert themed.compiled(name, "errors/404.html") is environment.get_template(
            "errors/404.html"
        )


def test_linking_can_be_turned_off() -> None:
    plain = engine(link=False)
    assert plain.compiled("campus", "landing.html") is plain.environment("campus").get_template(
        "landing.html"
    )


def page_context(name: str, **brand: Any) -> dict[str, Any]:
    theme = snapshot(name, **brand)
    return {"request": request_with(theme, tenant(name)), "facts": facts()}


RICH = {
    "tagline": "Where <people> meet",
    "logo": "ab" * 32,
    "support_url": "https://help.example/",
    "terms_url": "https://example.org/terms",
}


@pytest.mark.parametrize("name", sorted(theme_names()))
@pytest.mark.parametrize("brand", [{}, RICH], ids=["plain", "rich"])
@pytest.mark.parametrize(
    "viewer",
    [None, SimpleNamespace(display_name="Ada <3", role="owner", email="ada@example.org")],
    ids=["anon", "owner"],
)
def test_themed_pages_render_the_same_linked_and_unlinked(
    name: str, brand: dict[str, Any], viewer: Any
) -> None:
    extra = {"viewer": viewer} if viewer else {}
    for template in ("landing.html", "accounts/signup.html", "accounts/logout.html"):
        context = {**page_context(name, **brand), "csrf": "t", "next": "/", **extra}
        context.update(email="", display_name="")
        linked = engine(check_links=False).render(template, dict(context))
        unlinked = engine(link=False).render(template, dict(context))
        assert linked == unlinked


def test_the_check_catches_a_linked_template_that_renders_differently() -> None:
    checked = engine(check_links=True)
    checked.render("landing.html", page_context("campus"))  # the same both ways
    wrong = checked.environment("campus").from_string("not the landing page")
    checked._compiled[("campus", "landing.html")] = wrong
    with pytest.raises(LinkedRenderMismatch) as mismatch:
        checked.render("landing.html", page_context("campus"))
    assert mismatch.value.template == "landing.html"
    assert "+not the landing page" in str(mismatch.value)


def test_a_failure_in_a_linked_template_is_raised_from_the_partial_itself() -> None:
    themed = engine()
    context = page_context("campus")
    del context["facts"]  # _facts.html needs it
    with pytest.raises(UndefinedError) as failure:
        themed.render("landing.html", context)
    frames = [frame.filename for frame in traceback.extract_tb(failure.value.__traceback__)]
    assert any(frame.endswith("_facts.html") for frame in frames)


def test_the_suite_checks_every_render_of_the_process_engine() -> None:
    # tests/conftest.py sets WHITELABEL_CHECK_LINKED_TEMPLATES=1 before the engine is made, so
    # every page the integration tests render (and the servers they start) is checked.
    assert shared_engine()._check_links
