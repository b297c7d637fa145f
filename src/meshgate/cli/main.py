"""`meshgate` entry point. Each subcommand module exposes `register(subparsers)` and sets a `run`
function via `set_defaults(run=...)` returning the process exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from meshgate import __version__

# Explicit, alphabetised: a module missing here is a bug a test catches, not an import side effect.
COMMANDS: tuple[str, ...] = (
    "meshgate.cli.analyze",
    "meshgate.cli.demo",
    "meshgate.cli.demo_backend",
    "meshgate.cli.explain",
    "meshgate.cli.routes",
    "meshgate.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshgate",
        description="An ingress gateway serving Istio Gateway/VirtualService and Kubernetes Ingress YAML.",
    )
    parser.add_argument("--version", action="version", version=f"meshgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `meshgate routes | head`
        return 0
    except KeyboardInterrupt:
        return 130
