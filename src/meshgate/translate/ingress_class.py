"""Which Kubernetes Ingress objects this gateway handles (istio-semantics sec. 7.1: Istio's
shouldProcessIngressWithClass): the class annotation first, then spec.ingressClassName through its
IngressClass controller, then the ingress controller mode for class-less Ingresses."""

from __future__ import annotations

from dataclasses import dataclass

from meshgate.resources.bundle import ResourceBundle
from meshgate.resources.ingress import Ingress, IngressClass
from meshgate.translate.options import IngressMode, TranslateOptions

CLASS_ANNOTATION = "kubernetes.io/ingress.class"


@dataclass(frozen=True, slots=True)
class ClassDecision:
    handled: bool
    ingress_class: str  # what decided, for messages ("(none)" when the Ingress names no class)
    reason: str = ""


def class_decision(ingress: Ingress, bundle: ResourceBundle, options: TranslateOptions) -> ClassDecision:
    """Whether this gateway handles `ingress` (Istio's shouldProcessIngressWithClass)."""
    annotations = ingress.metadata.annotations
    class_name = ingress.spec.ingress_class_name
    mode = options.ingress_mode
    if mode is IngressMode.OFF:
        shown = annotations.get(CLASS_ANNOTATION, class_name) or "(none)"
        return ClassDecision(False, shown, "ingress mode is OFF")
    if CLASS_ANNOTATION in annotations:
        value = annotations[CLASS_ANNOTATION]
        if value == options.ingress_class:
            return ClassDecision(True, value)
        return ClassDecision(False, value, f"annotation {CLASS_ANNOTATION} is not {options.ingress_class!r}")
    if class_name:
        ingress_class = _find_ingress_class(bundle, class_name)
        if ingress_class is not None:
            controller = ingress_class.spec.controller
            if controller == options.ingress_controller:
                return ClassDecision(True, class_name)
            return ClassDecision(
                False,
                class_name,
                f"IngressClass {class_name} has controller {controller or '(none)'!r}, "
                f"not {options.ingress_controller!r}",
            )
        if mode is IngressMode.DEFAULT:
            return ClassDecision(True, class_name)
        return ClassDecision(
            False, class_name, f"no IngressClass named {class_name} and ingress mode is {mode.value}"
        )
    if mode is IngressMode.DEFAULT:
        return ClassDecision(True, "(none)")
    return ClassDecision(False, "(none)", f"the Ingress names no class and ingress mode is {mode.value}")


def _find_ingress_class(bundle: ResourceBundle, name: str) -> IngressClass | None:
    for item in bundle.of(IngressClass):
        if item.name == name:
            return item
    return None
