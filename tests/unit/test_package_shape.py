"""The package's shape: modules a newcomer can read whole, imports that run one way."""
import ast
from pathlib import Path

from pipeline import bundle

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in it, bar `if TYPE_CHECKING:` blocks)."""
    mods = modules()
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # type-only imports never run
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        graph[name] = {m for m in bundle.imports(tree, name, path.name == "__init__.py") if m in mods} - {name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, or [] if it has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_package_has_no_import_cycle():
    assert cycle(import_graph()) == []


def test_the_cycle_check_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_the_signal_tasks_modules_import_one_way():
    graph = import_graph()
    package = "pipeline.tasks.signals"
    assert graph[f"{package}.task"] >= {package, f"{package}.scoring"}
    assert f"{package}.scoring" not in graph[package] and f"{package}.task" not in graph[f"{package}.scoring"]
    assert graph[f"{package}.guard"] & {f"{package}.scoring", f"{package}.task"} == set()


def test_no_test_imports_a_private_name():
    """Tests go through the project's public functions: a private one may change without notice."""
    package_modules = set(modules())
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> package module, from `from pipeline.x import y` / `import pipeline.x as y`
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append(f"{path.name}: from {node.module} import {alias.name}")
                    if f"{node.module}.{alias.name}" in package_modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path.name}: {aliases[node.value.id]}.{node.attr}")
    assert found == []
