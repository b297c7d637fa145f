"""The neutral intermediate representation that Ingress, Istio and Gateway API all translate into.

Frozen slotted dataclasses holding tuples: cheap on the hot path and immutable in fact. Nothing here
imports the input models (`meshgate.resources`), so the IR speaks no Kubernetes vocabulary.
"""

from meshgate.ir.model import *  # noqa: F403
from meshgate.ir.model import __all__ as _model_all

__all__ = list(_model_all)
