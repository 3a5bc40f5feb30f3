"""Template linking: a page, its layouts and its partials compiled into one template, once.

Jinja2 resolves ``{% extends %}``, ``{% block %}`` and ``{% include %}`` while it renders: every
request walks the inheritance chain again, each block is its own generator that every chunk of
output passes through on its way up, and each include builds a fresh context from the whole
current one. For a themed page (``landing.html`` extends the theme's ``base.html``, which extends
``_layout.html``, with five partials) that is most of the rendering time.

Nothing in that chain changes between requests: the built-in themes' templates are code, the
tenant's brand is data. So the engine *links* each page once per theme, at its first use:

1. parse the page and, recursively, its parent and every partial it includes;
2. put each ``{% include "name" %}`` in place as a scope holding the partial's own tree (its
   blocks are its own: a page's block overrides never reach into a partial, as in Jinja);
3. replace each block of the parent with the most-derived definition of that block;
4. turn every remaining block into a plain scope and compile the one tree as one template.

The result renders with exactly the output of Jinja's own inheritance (a test renders every
template of every theme both ways and compares), in one generator, with no template lookups.

Linking refuses what it cannot reproduce exactly, and the engine then renders that template
through Jinja's own inheritance: ``self`` and ``super()`` (they need the block functions),
a computed parent or partial name, an include without context or of a list of names, an
``extends`` that is not at the top level, output in a child template outside its blocks, a
required block nobody filled, and inheritance cycles. :class:`LinkRefused` says which.

Compiled code keeps the page's file name; a failure inside a linked template is reported by
re-rendering through Jinja's inheritance, whose traceback names the right file and line (see
``ThemedTemplateEngine.render``).
"""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import Environment, Template, meta, nodes
from jinja2 import TemplateNotFound as JinjaTemplateNotFound

__all__ = ["LinkRefused", "link_template"]

NodeList = list[nodes.Node]

#: Names Jinja never passes to an included template (a linked partial would see them).
_NOT_PASSED_TO_PARTIALS = frozenset({"loop", "caller", "varargs", "kwargs"})
#: Statements whose local names a non-scoped block does not see in Jinja (a linked one would).
_LOCAL_SCOPES = (nodes.For, nodes.With, nodes.Macro, nodes.CallBlock)


class LinkRefused(Exception):
    """The template cannot be linked; ``reason`` says why (it renders the usual way)."""

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"{template}: {reason}")
        self.template = template
        self.reason = reason


def link_template(env: Environment, name: str) -> Template:
    """Template ``name`` of ``env`` with its inheritance and includes resolved into one tree.

    Raises:
        LinkRefused: the template uses something linking does not reproduce exactly.
        jinja2.TemplateNotFound, jinja2.TemplateSyntaxError: as ``env.get_template`` would.
    """
    body = _to_scopes(_resolve(env, name, ()), name)
    tree = nodes.Template(body, lineno=1)
    tree.set_environment(env)
    filename = _filename(env, name)
    code = env.compile(tree, name=name, filename=filename)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def _filename(env: Environment, name: str) -> str | None:
    assert env.loader is not None
    return env.loader.get_source(env, name)[1]


def _parse(env: Environment, name: str) -> nodes.Template:
    if env.loader is None:
        raise LinkRefused(name, "the environment has no loader")
    source, filename, _ = env.loader.get_source(env, name)
    return env.parse(source, name, filename)


def _resolve(env: Environment, name: str, chain: tuple[str, ...]) -> NodeList:
    """The linked body of ``name``: includes in place, the parent's blocks filled in; blocks
    are still blocks (a child of ``name`` may fill them in turn)."""
    if name in chain:
        raise LinkRefused(chain[0], f"inheritance or include cycle through {name!r}")
    chain = (*chain, name)
    tree = _parse(env, name)
    _refuse_block_references(tree, name)
    _refuse_unscoped_blocks_in_local_scopes(tree, name)
    body = _inline_includes(env, tree.body, chain)
    extends = [node for node in body if isinstance(node, nodes.Extends)]
    if len(extends) != len(list(tree.find_all(nodes.Extends))):
        raise LinkRefused(name, "`extends` inside a statement")
    if not extends:
        return body
    if len(extends) > 1:
        raise LinkRefused(name, "more than one `extends`")
    parent = extends[0].template
    if not (isinstance(parent, nodes.Const) and isinstance(parent.value, str)):
        raise LinkRefused(name, "a computed parent template name")
    # The child's own top-level code (set, import, macro) runs before the parent's body, as in
    # Jinja; its top-level output is dropped by Jinja, so anything but whitespace is refused.
    preamble: NodeList = []
    for node in body:
        if isinstance(node, nodes.Extends | nodes.Block):
            continue
        if isinstance(node, nodes.Output):
            if all(_is_blank(part) for part in node.nodes):
                continue
            raise LinkRefused(name, "output outside the blocks of a child template")
        preamble.append(node)
    overrides = {block.name: block for block in nodes.Template(body).find_all(nodes.Block)}
    linked_parent = _resolve(env, parent.value, chain)
    return preamble + _fill_blocks(linked_parent, overrides)


def _is_blank(node: nodes.Node) -> bool:
    return isinstance(node, nodes.TemplateData) and not node.data.strip()


def _refuse_block_references(tree: nodes.Template, name: str) -> None:
    """``self.block()`` and ``super()`` call block functions, which a linked template has not."""
    for ref in tree.find_all(nodes.Name):
        if ref.name in ("self", "super") and ref.ctx == "load":
            raise LinkRefused(name, f"uses `{ref.name}`")


def _refuse_unscoped_blocks_in_local_scopes(tree: nodes.Template, name: str) -> None:
    for statement in tree.find_all(_LOCAL_SCOPES):
        for block in statement.find_all(nodes.Block):
            if not block.scoped:
                raise LinkRefused(
                    name, f"block {block.name!r} inside a loop, with or macro is not scoped"
                )


def _inline_includes(env: Environment, body: NodeList, chain: tuple[str, ...]) -> NodeList:
    def replace(node: nodes.Node) -> NodeList | None:
        if not isinstance(node, nodes.Include):
            return None
        target = node.template
        if not (isinstance(target, nodes.Const) and isinstance(target.value, str)):
            raise LinkRefused(chain[0], "an include of a computed name or of a list of names")
        if not node.with_context:
            raise LinkRefused(chain[0], f"an include without context ({target.value!r})")
        try:
            included = _resolve(env, target.value, chain)
        except JinjaTemplateNotFound:
            if node.ignore_missing:
                return []
            raise
        partial = nodes.Template(included)
        partial.set_environment(env)
        if unpassed := meta.find_undeclared_variables(partial) & _NOT_PASSED_TO_PARTIALS:
            raise LinkRefused(chain[0], f"{target.value!r} uses {', '.join(sorted(unpassed))}")
        # The partial's blocks belong to the partial: the including page cannot override them.
        return [nodes.Scope(_to_scopes(included, chain[0]), lineno=node.lineno)]

    return _rewrite(body, replace)


def _fill_blocks(body: NodeList, overrides: dict[str, nodes.Block]) -> NodeList:
    def replace(node: nodes.Node) -> NodeList | None:
        if not isinstance(node, nodes.Block) or node.name not in overrides:
            return None
        chosen = overrides[node.name]
        filled = nodes.Block(
            node.name,
            _fill_blocks(list(chosen.body), overrides),
            chosen.scoped,
            False,
            lineno=chosen.lineno,
        )
        return [filled]

    return _rewrite(body, replace)


def _to_scopes(body: NodeList, page: str) -> NodeList:
    def replace(node: nodes.Node) -> NodeList | None:
        if not isinstance(node, nodes.Block):
            return None
        if node.required:
            raise LinkRefused(page, f"required block {node.name!r} is not filled")
        return [nodes.Scope(_to_scopes(list(node.body), page), lineno=node.lineno)]

    return _rewrite(body, replace)


def _rewrite(body: NodeList, replace: Callable[[nodes.Node], NodeList | None]) -> NodeList:
    """``body`` with each node ``replace`` answers a list for swapped for that list, and every
    other node's statement lists rewritten the same way (in place: the trees are fresh parses)."""
    out: NodeList = []
    for node in body:
        swapped = replace(node)
        if swapped is not None:
            out.extend(swapped)
            continue
        for field in node.fields:
            value = getattr(node, field)
            if isinstance(value, list) and value and all(isinstance(v, nodes.Node) for v in value):
                setattr(node, field, _rewrite(value, replace))
        out.append(node)
    return out
