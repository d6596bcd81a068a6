"""The code's seams, read from the ASTs of the product's own modules (app.py, pages/, ui/, mfcore/).

- no import cycle between modules;
- no module imports another module's ``_private`` name;
- the engine (``mfcore``) imports neither Streamlit nor its own command line (``mfcore.cli``);
- no file over 450 lines, no function over 100 (the redesign's targets are ~400 and ~80).

Each rule is also checked against a small planted tree, so a walker that sees nothing fails.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("app.py", "pages", "ui", "mfcore")
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 100


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _product_files(root: Path) -> list[Path]:
    files = []
    for top in PRODUCT:
        p = root / top
        files += [p] if p.is_file() else sorted(p.rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def _imports(path: Path, module: str, tree: ast.Module, modules: set[str]):
    """(target module, imported name or None) for every import in ``tree``."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub, None) if sub in modules else (target, alias.name)


def _owner(target: str, modules: set[str]) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def scan(root: Path) -> dict[str, list[str]]:
    """Every breach of the rules in the product tree under ``root``."""
    files = _product_files(root)
    names = {f: _module_name(f, root) for f in files}
    modules = set(names.values())
    edges: dict[str, set[str]] = {m: set() for m in modules}
    found: dict[str, list[str]] = {"cycles": [], "private imports": [], "engine imports UI/CLI": [],
                                   "long files": [], "long functions": []}
    for path, module in names.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        if len(source.splitlines()) > MAX_FILE_LINES:
            found["long files"].append(f"{module}: {len(source.splitlines())} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found["long functions"].append(f"{module}.{node.name}: {length} lines")
        in_engine = module.split(".")[0] == "mfcore" and not (
            module == "mfcore.__main__" or module == "mfcore.cli" or module.startswith("mfcore.cli."))
        for target, name in _imports(path, module, tree, modules):
            top = target.split(".")[0]
            if in_engine and (top in ("streamlit", "ui", "pages") or target == "mfcore.cli"
                              or target.startswith("mfcore.cli.")):
                found["engine imports UI/CLI"].append(f"{module} -> {target}")
            owner = _owner(target, modules)
            if owner is None or owner == module:
                continue
            reexport = path.name == "__init__.py" and owner.startswith(module + ".")
            if name and name.startswith("_") and not name.startswith("__") and not reexport:
                found["private imports"].append(f"{module} <- {owner}.{name}")
            if not module.startswith(owner + "."):  # a package's parent is not a dependency
                edges[module].add(owner)
    found["cycles"] = [" <-> ".join(c) for c in _cycles(edges)]
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


@pytest.mark.parametrize("rule", ["cycles", "private imports", "engine imports UI/CLI",
                                  "long files", "long functions"])
def test_product_keeps_the_rule(rule):
    breaches = scan(ROOT)[rule]
    assert not breaches, f"{rule}:\n" + "\n".join(breaches)


def test_the_walker_sees_every_kind_of_breach(tmp_path):
    def write(rel: str, text: str) -> None:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    write("app.py", "import ui.panel\n")
    write("ui/__init__.py", "")
    write("ui/panel.py", "from mfcore.evaluate import ranking\n")
    write("mfcore/__init__.py", "")
    write("mfcore/cli/__init__.py", "from ..evaluate.ranking import top\n")
    write("mfcore/evaluate/__init__.py", "")
    write("mfcore/evaluate/ranking.py",
          "import streamlit as st\nfrom ..recommend import _fold\nfrom mfcore.cli import main\n"
          "def top():\n" + "    x = 1\n" * 120)
    write("mfcore/recommend.py", "from .evaluate.ranking import top\n" + "# line\n" * 460)
    found = scan(tmp_path)
    assert found["cycles"] == ["mfcore.cli <-> mfcore.evaluate.ranking <-> mfcore.recommend"]
    assert found["private imports"] == ["mfcore.evaluate.ranking <- mfcore.recommend._fold"]
    assert sorted(found["engine imports UI/CLI"]) == ["mfcore.evaluate.ranking -> mfcore.cli",
                                                      "mfcore.evaluate.ranking -> streamlit"]
    assert found["long files"] == ["mfcore.recommend: 461 lines"]
    assert found["long functions"] == ["mfcore.evaluate.ranking.top: 121 lines"]
