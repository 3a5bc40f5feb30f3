"""The theme-aware template engine: one Jinja2 environment per built-in theme, picked per request.

Every built-in theme has its own :class:`jinja2.Environment`, created on first use and kept for
the life of the engine (templates compile once per theme). Its loader looks in the theme's own
``themes/<name>/templates/`` first and then in the shared templates
(``whitelabel/pages/templates/``), so a theme overrides only what it must (``base.html``,
``landing.html``, an email layout) and inherits every other page.

:class:`ThemedTemplateEngine` is a Litestar ``TemplateEngineProtocol``: a handler returns
``Template("accounts/login.html", context=...)`` as before, and at render time the template is
taken from the environment of the request's theme (:func:`themes.brand.theme_of`; off a snapshot,
the tenant's base theme with no brand). Templates see, besides their context:

- ``theme``: the :class:`~themes.brand.ThemeSnapshot`;
- ``app_name``: the brand's app name, or the tenant's name when the brand has none;
- ``tenant``: the request's tenant, when the handler did not pass one.

Autoescaping is on for ``.html`` templates (``.txt`` email bodies are plain text) and undefined
names raise (:class:`jinja2.StrictUndefined`): a typo fails a test instead of rendering blank.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    pass_context,
    select_autoescape,
)
from jinja2 import TemplateNotFound as JinjaTemplateNotFound
from litestar.exceptions import ImproperlyConfiguredException, TemplateNotFoundException
from litestar.template.base import (
    TemplateCallableType,
    TemplateEngineProtocol,
    csrf_token,
    url_for,
    url_for_static_asset,
)

from themes.brand import DEFAULT_THEME, ThemeSnapshot, theme_of
from themes.linker import LinkRefused, link_template
from whitelabel.context import TenantContext

__all__ = [
    "CHECK_LINKS_ENV",
    "LinkedRenderMismatch",
    "ThemedTemplate",
    "ThemedTemplateEngine",
    "app_name_of",
    "shared_engine",
    "shared_templates_dir",
    "snapshot_for",
    "tenant_theme",
    "theme_templates_dir",
]

P = ParamSpec("P")
T = TypeVar("T")

#: ``scope["state"]`` key of the request's tenant (set by the tenancy middleware).
_STATE_TENANT = "tenant"

log = logging.getLogger("whitelabel.themes")


def shared_templates_dir() -> Path:
    """The templates every theme inherits (``whitelabel/pages/templates/``)."""
    return Path(str(resources.files("whitelabel.pages") / "templates"))


def theme_templates_dir(name: str) -> Path:
    """The ``templates/`` folder of the built-in theme ``name`` (an alias resolves to its theme).

    Raises:
        UnknownTheme: no built-in theme has that name.
    """
    from themes.registry import get_theme

    return get_theme(name).templates_dir


def _known_theme(name: str) -> str:
    """``name`` resolved to a built-in theme's own name; unknown names give the default theme
    (a snapshot naming a theme this code no longer ships still renders)."""
    from themes.registry import UnknownTheme, get_theme, theme_names

    if name in theme_names():
        return name
    try:
        return get_theme(name).name
    except UnknownTheme:
        return get_theme(DEFAULT_THEME).name


def tenant_theme(tenant: TenantContext) -> ThemeSnapshot:
    """The tenant's published snapshot if this process has it cached (always so during the
    tenant's requests: the theme middleware loaded it), else its base theme with no brand.
    Never queries the database."""
    from themes.service import cached_snapshot, default_snapshot

    return cached_snapshot(tenant) or default_snapshot(tenant)


def snapshot_for(scope: Mapping[str, Any], tenant: TenantContext | None) -> ThemeSnapshot | None:
    """The theme to render a request with: the request's snapshot; else (answers given before
    the theme middleware ran: unmatched paths, a suspended tenant) :func:`tenant_theme`;
    ``None`` when there is no tenant either."""
    snapshot = theme_of(scope)
    if snapshot is not None:
        return snapshot
    return tenant_theme(tenant) if tenant is not None else None


def app_name_of(theme: ThemeSnapshot, tenant: TenantContext | None) -> str:
    """The name a page shows: the brand's app name, else the tenant's name."""
    if theme.brand.app_name:
        return theme.brand.app_name
    return tenant.name if tenant is not None else ""


class LinkedRenderMismatch(AssertionError):
    """A linked template rendered differently from Jinja's inheritance (a linker bug)."""

    def __init__(self, template: str, theme: str, expected: str, linked: str) -> None:
        diff = "\n".join(
            difflib.unified_diff(
                expected.splitlines(), linked.splitlines(), "jinja", "linked", lineterm=""
            )
        )
        super().__init__(f"{template} in theme {theme} renders differently linked:\n{diff}")
        self.template = template
        self.theme = theme


class ThemedTemplate:
    """A template name bound to an engine; renders with the environment of the context's theme."""

    __slots__ = ("_engine", "name")

    def __init__(self, engine: ThemedTemplateEngine, name: str) -> None:
        self._engine = engine
        self.name = name

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render with the context given as a mapping and/or keywords (``request`` picks the
        theme; an explicit ``theme`` snapshot wins)."""
        return self._engine.render(self.name, dict(*args, **kwargs))


class ThemedTemplateEngine(TemplateEngineProtocol[ThemedTemplate, Mapping[str, Any]]):
    """Litestar template engine over one cached Jinja2 environment per built-in theme.

    ``directory``: the shared template folder(s) every theme falls back to (default: the
    project's shared templates). ``engine_instance`` is not supported: the engine builds its
    environments itself, one per theme. ``link``: render each template linked once per theme
    (:mod:`themes.linker`; the default) or through Jinja's inheritance on every render.
    ``check_links``: render every linked template both ways as well and raise
    :class:`LinkedRenderMismatch` when the two differ (the test suite turns this on for the
    process's engine with ``WHITELABEL_CHECK_LINKED_TEMPLATES=1``; it doubles rendering work).
    """

    def __init__(
        self,
        directory: Path | Sequence[Path] | None = None,
        engine_instance: Any | None = None,
        *,
        link: bool = True,
        check_links: bool = False,
    ) -> None:
        if engine_instance is not None:
            raise ImproperlyConfiguredException(
                "ThemedTemplateEngine builds one environment per theme; pass directories only"
            )
        if directory is None:
            shared = [shared_templates_dir()]
        elif isinstance(directory, Path | str):
            shared = [Path(directory)]
        else:
            shared = [Path(d) for d in directory]
        self._shared = tuple(shared)
        self._globals: dict[str, Any] = {}
        self._environments: dict[str, Environment] = {}
        self._templates: dict[str, ThemedTemplate] = {}
        self._link = link
        self._check_links = check_links
        #: (theme name, template name) -> the template to render: linked, or Jinja's own where
        #: linking refused (or is off).
        self._compiled: dict[tuple[str, str], Template] = {}
        self._lock = threading.Lock()
        self.register_template_callable("url_for_static_asset", url_for_static_asset)
        self.register_template_callable("csrf_token", csrf_token)
        self.register_template_callable("url_for", url_for)

    def environment(self, theme: str) -> Environment:
        """The environment of built-in theme ``theme`` (made once; unknown names: the default)."""
        env = self._environments.get(theme)
        if env is not None:
            return env
        name = _known_theme(theme)
        with self._lock:
            env = self._environments.get(name)
            if env is None:
                env = self._build(name)
                self._environments[name] = env
            self._environments[theme] = env
        return env

    def _build(self, name: str) -> Environment:
        loader = ChoiceLoader(
            [FileSystemLoader(theme_templates_dir(name)), FileSystemLoader(list(self._shared))]
        )
        env = Environment(
            loader=loader,
            autoescape=select_autoescape(("html", "htm", "xml"), default_for_string=True),
            undefined=StrictUndefined,
            auto_reload=False,  # built-in themes change with the code, not at run time
            keep_trailing_newline=True,
        )
        env.globals.update(self._globals)
        return env

    def get_template(self, template_name: str) -> ThemedTemplate:
        """The template ``template_name``, to be rendered in the request's theme.

        Raises:
            TemplateNotFoundException: neither the default theme nor the shared templates have it.
        """
        template = self._templates.get(template_name)
        if template is not None:
            return template
        try:
            self.environment(DEFAULT_THEME).get_template(template_name)
        except JinjaTemplateNotFound as exc:
            raise TemplateNotFoundException(template_name=template_name) from exc
        template = ThemedTemplate(self, template_name)
        self._templates[template_name] = template
        return template

    def _context(self, context: dict[str, Any]) -> tuple[Environment, dict[str, Any]]:
        request = context.get("request")
        scope: Mapping[str, Any] = request.scope if request is not None else {}
        tenant = context.get("tenant")
        if tenant is None:
            tenant = (scope.get("state") or {}).get(_STATE_TENANT)
        theme = context.get("theme")
        if not isinstance(theme, ThemeSnapshot):
            theme = snapshot_for(scope, tenant)
        if theme is None:
            raise ImproperlyConfiguredException(
                "themed templates render for a tenant: pass `tenant` or `theme`, or render "
                "inside a tenant request"
            )
        context.update(theme=theme, tenant=tenant, app_name=app_name_of(theme, tenant))
        return self.environment(theme.base), context

    def render(self, template_name: str, context: dict[str, Any]) -> str:
        """Render ``template_name`` in the theme of ``context`` (see :class:`ThemedTemplate`).

        A failure inside a linked template is raised again by rendering through Jinja's
        inheritance, so that its traceback names the partial's own file and line.
        """
        env, full = self._context(context)
        template = self._compiled.get((full["theme"].base, template_name))
        if template is None:
            template = self._compile(full["theme"].base, env, template_name)
        try:
            body = template.render(full)
        except Exception:
            unlinked = env.get_template(template_name)
            if template is unlinked:
                raise
            result = unlinked.render(full)  # raises the same error, from the right file
            log.error(
                "theme template %s failed linked but rendered unlinked; rendering it unlinked "
                "from now on",
                template_name,
                exc_info=True,
            )
            self._compiled[(full["theme"].base, template_name)] = unlinked
            return result
        if self._check_links:
            unlinked = env.get_template(template_name)
            if template is not unlinked and (expected := unlinked.render(full)) != body:
                raise LinkedRenderMismatch(template_name, full["theme"].base, expected, body)
        return body

    def compiled(self, theme: str, template_name: str) -> Template:
        """The template ``render`` uses for ``template_name`` in theme ``theme``: linked, or
        Jinja's own where linking refused or is off (compiled on first use)."""
        template = self._compiled.get((theme, template_name))
        if template is None:
            template = self._compile(theme, self.environment(theme), template_name)
        return template

    def _compile(self, theme: str, env: Environment, template_name: str) -> Template:
        template: Template | None = None
        if self._link:
            try:
                template = link_template(env, template_name)
            except LinkRefused as refused:
                log.debug("theme template %s renders unlinked: %s", template_name, refused)
        if template is None:
            template = env.get_template(template_name)
        self._compiled[(theme, template_name)] = template
        return template

    def render_string(self, template_string: str, context: Mapping[str, Any]) -> str:
        """Render a template source in the theme of ``context`` (autoescaped)."""
        env, full = self._context(dict(context))
        return env.from_string(template_string).render(full)

    def register_template_callable(
        self, key: str, template_callable: TemplateCallableType[Mapping[str, Any], P, T]
    ) -> None:
        """Make ``template_callable`` (called with the template context first) a global of
        every theme's environment, current and future."""
        wrapped = pass_context(template_callable)
        with self._lock:
            self._globals[key] = wrapped
            for env in self._environments.values():
                env.globals[key] = wrapped


#: Environment variable: when ``1``, the process's engine checks every linked render against
#: Jinja's inheritance (:class:`ThemedTemplateEngine` ``check_links``; the test suite sets it).
CHECK_LINKS_ENV = "WHITELABEL_CHECK_LINKED_TEMPLATES"


@cache
def shared_engine() -> ThemedTemplateEngine:
    """The process's engine over the shared templates (pages, error pages and emails use it)."""
    return ThemedTemplateEngine(check_links=os.environ.get(CHECK_LINKS_ENV) == "1")
