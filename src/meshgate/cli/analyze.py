"""`meshgate analyze -f PATH [-o text|json|yaml|sarif] [--fail-on LEVEL] [--suppress CODE=RESOURCE]`.

Prints every problem loading, translation and the analyzers find, each with file:line and a fix.
Exit status: 1 when a message at or above `--fail-on` (default: error) remains after suppressions,
0 otherwise, 2 for usage errors (bad arguments, a path that does not exist).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from meshgate.analysis import Settings, analyze
from meshgate.analysis.analyzers import ALL
from meshgate.analysis.output import FORMATS, render
from meshgate.analysis.suppress import SuppressionError, parse
from meshgate.cli.common import add_config_arguments, options_from
from meshgate.diag import Level
from meshgate.sources import load_paths
from meshgate.translate import translate

USAGE_ERROR = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="report configuration problems with file:line and a fix (exit 1 on errors)"
    )
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", choices=sorted(FORMATS), default="text", help="output format")
    parser.add_argument(
        "--fail-on",
        choices=["error", "warning", "info"],
        default="error",
        help="exit 1 when a message of this level or above is found (default: error)",
    )
    parser.add_argument(
        "--suppress",
        action="append",
        default=[],
        metavar="CODE=RESOURCE",
        help="hide messages, e.g. MG0409='Ingress default/cafe-ingress' or 'IST0101=*'; repeatable",
    )
    parser.add_argument(
        "--cert-warn-days",
        type=_days,
        default=30,
        metavar="N",
        help="warn about certificates expiring within N days (default: 30)",
    )
    parser.add_argument("--list-analyzers", action="store_true", help="list the analyzers and exit")
    parser.set_defaults(run=run)


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the number of days cannot be negative")
    return value


def run(args: argparse.Namespace) -> int:
    if args.list_analyzers:
        for analyzer in ALL:
            print(f"{analyzer.name:36} {analyzer.description} [{', '.join(analyzer.codes)}]")
        return 0
    try:
        suppressions = [parse(text) for text in args.suppress]
        options = options_from(args)
    except (SuppressionError, argparse.ArgumentTypeError) as exc:
        print(f"meshgate analyze: {exc}", file=sys.stderr)
        return USAGE_ERROR
    missing = [p for p in args.paths if p != "-" and not Path(p).exists()]
    if missing:
        print(f"meshgate analyze: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return USAGE_ERROR
    load = load_paths(args.paths)
    result = analyze(
        load,
        translate(load.bundle, options),
        options,
        Settings(cert_warn_days=args.cert_warn_days),
        suppressions=suppressions,
    )
    sys.stdout.write(render(result, args.output))
    return 1 if result.at_least(Level.parse(args.fail_on)) else 0
