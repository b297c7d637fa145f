"""meshgate: an ingress gateway that serves Istio and Kubernetes ingress configuration as written."""

__version__ = "0.1.0"
__all__ = ["__version__"]
