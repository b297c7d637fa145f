"""Arguments and steps shared by every subcommand that reads configuration (-f, workload identity)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from meshgate.diag import Diagnostic, Level
from meshgate.sources import LoadResult, load_paths
from meshgate.translate import IngressMode, TranslateOptions, Translation, translate


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        dest="paths",
        action="append",
        required=True,
        metavar="PATH",
        help="YAML/JSON file or directory (recursive); repeatable; '-' reads stdin",
    )
    parser.add_argument(
        "--workload-labels",
        default="app=istio-ingressgateway,istio=ingressgateway",
        metavar="K=V,...",
        help="labels of this gateway workload, matched by Gateway selectors",
    )
    parser.add_argument(
        "--namespace",
        default="istio-system",
        help="namespace of the gateway workload (where credentialName Secrets are read)",
    )
    parser.add_argument("--domain-suffix", default="cluster.local", help="cluster domain for short names")
    parser.add_argument(
        "--ingress-mode",
        choices=[m.value for m in IngressMode],
        default="DEFAULT",
        help="which Kubernetes Ingress objects to serve (Istio's ingressControllerMode)",
    )
    parser.add_argument("--ingress-class", default="istio", help="ingress class this gateway handles")


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--workload-labels: {item!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(sorted(pairs))


def options_from(args: argparse.Namespace) -> TranslateOptions:
    return TranslateOptions(
        workload_labels=parse_labels(args.workload_labels),
        namespace=args.namespace,
        domain_suffix=args.domain_suffix,
        ingress_mode=IngressMode(args.ingress_mode),
        ingress_class=args.ingress_class,
    )


@dataclass(frozen=True, slots=True)
class Loaded:
    load: LoadResult
    translation: Translation

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.load.diagnostics + self.translation.diagnostics


def load_and_translate(args: argparse.Namespace) -> Loaded:
    load = load_paths(args.paths)
    return Loaded(load, translate(load.bundle, options_from(args)))


def print_diagnostics(
    diagnostics: Iterable[Diagnostic], stream: TextIO | None = None, minimum: Level = Level.WARNING
) -> None:
    stream = stream or sys.stderr
    for diagnostic in diagnostics:
        if diagnostic.level >= minimum:
            print(diagnostic.render(), file=stream)
