"""ingress.ClassNotFound: `spec.ingressClassName` naming an IngressClass that is not in the input.

Translation follows the reference here (istio-semantics 7.1): such an Ingress is treated as naming no
class, so it is served in ingress mode DEFAULT and skipped in STRICT. The newest istiod drops it in
every mode, so the same file can stop working after an upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.ingress import Ingress, IngressClass
from meshgate.translate.ingress_class import CLASS_ANNOTATION
from meshgate.translate.options import IngressMode


class ClassNotFound(Analyzer):
    name = "ingress.ClassNotFound"
    description = "Finds Ingresses whose spec.ingressClassName names no IngressClass"
    inputs = ("Ingress",)
    codes = ("MG0411",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        mode = context.options.ingress_mode
        if mode is IngressMode.OFF:
            return
        classes = {c.name for c in context.bundle.of(IngressClass)}
        for ingress in context.bundle.of(Ingress):
            name = ingress.spec.ingress_class_name
            if not name or name in classes or CLASS_ANNOTATION in ingress.metadata.annotations:
                continue
            if mode is IngressMode.DEFAULT:
                consequence = (
                    "it is served as an Ingress without class (ingress mode DEFAULT, like older"
                    " istiod releases); the newest istiod ignores it"
                )
            else:
                consequence = f"it is not served (ingress mode {mode.value})"
            yield make(
                "MG0411",
                origin=ingress.origin_of("spec.ingressClassName"),
                resource=ingress.ref,
                field_path="spec.ingressClassName",
                name=name,
                consequence=consequence,
                controller=context.options.ingress_controller,
            )
