"""The house's shape, read from the source with `ast` alone (nothing here imports torch or mechtests).

Layers, bottom up (a module may import only from its own layer or a lower one; imports under
`if TYPE_CHECKING:` count too):

    errors (and the root package) < claims < models < run < stats < queries < tasks < measure
    < study < reports < plugin < commands < testing < cli

claims (verdicts, evidence, the hypothesis decorator) sit just above errors: they are the
vocabulary every layer speaks (a measurement may find its hypothesis not applicable; an
estimate compared with a bar records its evidence).

posttrain sits beside measure: it may use the layers below measure, and neither imports the other.
Beside the order: no import cycle, no file over 300 lines, few function-local imports (each with
its reason), one module for the baseline gate and `compare` only as the CLI verb.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mechtests"
ORDER = ["errors", "claims", "models", "run", "stats", "queries", "tasks", "measure", "study", "reports",
         "plugin", "commands", "testing", "cli"]
RANK = {layer: rank for rank, layer in enumerate(ORDER)} | {"posttrain": ORDER.index("measure")}
MAX_LINES = 300
MAX_LOCAL_IMPORTS = 10


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str | None:
    """The layer a dotted module belongs to; None for a root module that is in no layer."""
    parts = module.split(".")
    if len(parts) == 1:
        return "errors"  # the root package: it imports only errors and maps public names lazily
    return parts[1] if parts[1] in RANK else None


def may_import(importer: str, imported: str) -> bool:
    return importer == imported or RANK[imported] < RANK[importer]


@cache
def lazy_names() -> dict[str, str]:
    """The root package's `_LAZY` map: a public name -> the module that defines it."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and "_LAZY" in ast.unparse(node).split("=")[0]:
            table = ast.literal_eval(node.value)
            return {name: target[0] if isinstance(target, tuple) else target for name, target in table.items()}
    return {}


def resolve(importer: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The mechtests modules an import statement loads (a name of the root package counts as the
    module it maps to lazily)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "mechtests"]
    base = node.module or ""
    if node.level:  # relative: from the importer's package
        package = importer.split(".") if modules()[importer].name == "__init__.py" else importer.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    if base.split(".")[0] != "mechtests":
        return []
    out = []
    for alias in node.names:
        if f"{base}.{alias.name}" in modules():
            out.append(f"{base}.{alias.name}")
        elif base == "mechtests" and alias.name in lazy_names():
            out.append(lazy_names()[alias.name])
        else:
            out.append(base)
    return out


def is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def imports(path: Path) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement in a file with where it runs: 'module' (at import time),
    'typing' (under `if TYPE_CHECKING:`) or 'function' (inside a function body)."""
    found: list[tuple[ast.Import | ast.ImportFrom, str]] = []

    def walk(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, where))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                walk(child, "function")
            elif isinstance(child, ast.If) and is_type_checking(child.test) and where == "module":
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), "typing")
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), where)
            else:
                walk(child, where)

    walk(ast.parse(path.read_text()), "module")
    return found


def edges() -> list[tuple[str, int, str, str]]:
    """(importer, line, imported, where) for every import of a mechtests module in the package."""
    return [(importer, node.lineno, imported, where)
            for importer, path in modules().items()
            for node, where in imports(path)
            for imported in resolve(importer, node)]


def relative(module: str) -> str:
    return str(modules()[module].relative_to(PACKAGE.parent))


def test_every_module_is_in_a_layer():
    homeless = [relative(m) for m in modules() if layer_of(m) is None]
    assert not homeless, f"modules in no layer (move them into a layer folder): {homeless}"


def test_imports_go_down_the_layers():
    violations = []
    for importer, line, imported, _ in edges():
        a, b = layer_of(importer), layer_of(imported)
        if a is not None and b is not None and not may_import(a, b):
            direction = "higher" if RANK[b] > RANK[a] else "sibling"
            violations.append(f"{relative(importer)}:{line} imports {imported} ({a} -> {direction} layer {b})")
    assert not violations, "\n".join(violations)


def test_root_package_imports_only_errors_and_maps_names_to_real_modules():
    root = [f"mechtests/__init__.py:{line} imports {imported}" for importer, line, imported, where in edges()
            if importer == "mechtests" and where != "function" and imported != "mechtests.errors"]
    missing = [f"_LAZY maps {name} to {target}, which is no module" for name, target in lazy_names().items()
               if target not in modules()]
    assert not root + missing, "\n".join(root + missing)


def find_cycle(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of a directed graph, one per strongly connected component (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for importer, _, imported, where in edges():
        if where != "function" and imported != importer:
            graph.setdefault(importer, set()).add(imported)
    cycles = find_cycle(graph)
    assert not cycles, "import cycles between modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_file_over_300_lines():
    long = [f"{relative(m)}: {n} lines" for m, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines (split by job):\n" + "\n".join(long)


def comment_lines(path: Path) -> set[int]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT}


def test_function_local_imports_are_few_and_give_their_reason():
    local = [(importer, node) for importer, path in modules().items()
             for node, where in imports(path) if where == "function" and resolve(importer, node)]
    problems = []
    if len(local) > MAX_LOCAL_IMPORTS:
        problems.append(f"{len(local)} function-local imports of mechtests modules (at most {MAX_LOCAL_IMPORTS}):")
        problems += [f"  {relative(m)}:{node.lineno} {ast.unparse(node)}" for m, node in local]
    silent = [f"  {relative(m)}:{node.lineno} {ast.unparse(node)}" for m, node in local
              if not comment_lines(modules()[m]) & {node.lineno - 1, node.lineno, node.end_lineno}]
    if silent:
        problems += ["function-local imports without a comment giving the reason:", *silent]
    assert not problems, "\n".join(problems)


def test_one_gate_and_compare_only_as_the_cli_verb():
    def named(pattern: str) -> list[str]:
        return sorted(relative(m) for m in modules() if re.search(pattern, m.split(".")[-1]))

    gates = named(r"(^|_)gate(s|d)?($|_)")
    compares = [m for m in named(r"^compare$") if m != "mechtests/commands/compare.py"]
    assert len(gates) == 1, f"one module for the baseline gate, found {gates}"
    assert not compares, f"only the CLI command is named compare, found {compares}"
