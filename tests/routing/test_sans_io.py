"""routing/ is sans-IO: neither it nor any meshgate module it imports (transitively) may import
an event loop, TLS, sockets or threads. Checked on the source (ast), so a lazy import inside a
function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import meshgate

FORBIDDEN = {"asyncio", "ssl", "socket", "selectors", "threading"}
SRC = Path(meshgate.__file__).resolve().parent.parent  # the directory holding `meshgate/`
ROUTING = SRC / "meshgate" / "routing"


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def module_name(file: Path) -> str:
    parts = list(file.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(file: Path) -> set[str]:
    """Absolute names of every module `file` imports (`from a import b` yields `a` and `a.b`)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    package = module_name(file) if file.name == "__init__.py" else module_name(file).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def closure() -> dict[str, set[str]]:
    """meshgate module name -> its imports, for routing/ and everything it reaches."""
    pending = [module_name(f) for f in sorted(ROUTING.glob("*.py"))]
    seen: dict[str, set[str]] = {}
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        file = module_file(name)
        if file is None:  # `from meshgate.x import some_function`: not a module
            continue
        imported = imports_of(file)
        seen[name] = imported
        # Importing a submodule runs its parent packages' __init__ too.
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        pending.extend(m for m in imported | parents if m.split(".")[0] == "meshgate")
    return seen


def test_routing_and_its_meshgate_imports_are_sans_io() -> None:
    modules = closure()
    assert "meshgate.routing.decide" in modules
    assert "meshgate.ir.model" in modules  # the walk really follows imports
    assert "meshgate.hostnames" in modules
    offenders = {
        name: sorted(m for m in imported if m.split(".")[0] in FORBIDDEN)
        for name, imported in modules.items()
        if any(m.split(".")[0] in FORBIDDEN for m in imported)
    }
    assert offenders == {}


def test_the_checker_notices_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom asyncio import sleep\ndef f():\n    import ssl\n", encoding="utf-8")
    tree_imports = set()
    for node in ast.walk(ast.parse(sample.read_text())):
        if isinstance(node, ast.Import):
            tree_imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            tree_imports.add(node.module or "")
    assert {m for m in tree_imports if m in FORBIDDEN} == {"asyncio", "ssl"}
