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
from whitelabel.context import TenantContext

__all__ = [
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
    environments itself, one per theme.
    """

    def __init__(
        self,
        directory: Path | Sequence[Path] | None = None,
        engine_instance: Any | None = None,
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
        """Render ``template_name`` in the theme of ``context`` (see :class:`ThemedTemplate`)."""
        env, full = self._context(context)
        return env.get_template(template_name).render(full)

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


@cache
def shared_engine() -> ThemedTemplateEngine:
    """The process's engine over the shared templates (pages, error pages and emails use it)."""
    return ThemedTemplateEngine()
