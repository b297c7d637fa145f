"""Input models: Kubernetes-shaped objects as users write them, validated by pydantic.

Only `sources/` builds these; `translate/` reads them; the IR never imports them.
"""

from meshgate.resources.base import ObjectMeta, Resource

__all__ = ["ObjectMeta", "Resource"]
