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


def package_of(file: Path) -> str:
    return module_name(file) if file.name == "__init__.py" else module_name(file).rpartition(".")[0]


def imports_of(source: str, package: str) -> set[str]:
    """Absolute names of every module imported by `source` (a module of `package`), anywhere in it;
    `from a import b` yields both `a` and `a.b` (b may be a submodule)."""
    tree = ast.parse(source)
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
        imported = imports_of(file.read_text(encoding="utf-8"), package_of(file))
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


def test_the_checker_sees_lazy_relative_and_from_imports() -> None:
    source = "import os\nfrom asyncio import sleep\nfrom ..ir import model\ndef f():\n    import ssl.x\n"
    imported = imports_of(source, "meshgate.routing")
    assert {"os", "asyncio", "asyncio.sleep", "meshgate.ir", "meshgate.ir.model", "ssl.x"} <= imported
    assert {m.split(".")[0] for m in imported} & FORBIDDEN == {"asyncio", "ssl"}
