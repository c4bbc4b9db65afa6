"""The import graph, read from the source (every import, at module level, inside functions
and under TYPE_CHECKING): no cycles in `belief_jax` or `envs`, and the layering
envs ← belief_jax ← experiments. Static, so it costs no JAX import. `from pkg import X` is an
edge to `pkg.X` when that is a module, else to the package's `__init__`; a package's own
`__init__` running before its submodules is Python's import order, not a cycle."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "belief_jax", "experiments")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports; `from pkg import name` counts as pkg.name when
    that is a module (a submodule import), else as pkg."""
    found = set()
    package = _module_name(path) if path.name == "__init__.py" else \
        _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found - {_module_name(path)}


def _graph() -> dict[str, set[str]]:
    paths = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles():
    graph = _graph()
    for package in ("belief_jax", "envs"):
        sub = {k: {t for t in v if t.split(".")[0] == package}
               for k, v in graph.items() if k.split(".")[0] == package}
        assert _cycle(sub) is None, " -> ".join(_cycle(sub))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("lower, upper", [("envs", "belief_jax"), ("envs", "experiments"),
                                          ("belief_jax", "experiments")])
def test_lower_layers_never_import_upper_ones(lower, upper):
    graph = _graph()
    bad = {k: sorted(t for t in v if t.split(".")[0] == upper)
           for k, v in graph.items() if k.split(".")[0] == lower}
    assert not {k: v for k, v in bad.items() if v}


def test_the_shared_types_import_nothing_from_the_project():
    assert _graph()["belief_jax.types"] == set()
