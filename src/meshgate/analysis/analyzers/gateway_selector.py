"""gateway.SelectorWorkload: Gateways whose selector matches no known workload.

A Gateway applies to the pods whose labels include its selector (istio-semantics 1.1). Known
workloads are this gateway (`--workload-labels`) and the Pods in the input. Translation already says
(MG0101, info) that a Gateway is not for this workload; a Gateway that selects nothing at all is
Istio's IST0101 "referenced selector not found".
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.core import Pod
from meshgate.resources.istio import Gateway


class SelectorWorkload(Analyzer):
    name = "gateway.SelectorWorkload"
    description = "Finds Gateways whose selector matches neither this gateway workload nor any Pod"
    inputs = ("Gateway",)
    codes = ("IST0101",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        pods = [pod.metadata.labels for pod in context.bundle.of(Pod)]
        labels = ",".join(f"{k}={v}" for k, v in context.options.workload_labels)
        for gateway in context.bundle.of(Gateway):
            selector = gateway.spec.selector
            if context.options.selects(selector):
                continue
            if any(all(pod.get(k) == v for k, v in selector.items()) for pod in pods):
                continue
            shown = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            yield make(
                "IST0101",
                origin=gateway.origin_of("spec.selector"),
                resource=gateway.ref,
                field_path="spec.selector",
                what="workload for selector",
                name=shown,
                detail=f": no Pod in the input has these labels, and this gateway's are {labels}",
                fix="Correct spec.selector (a subset of the gateway pods' labels), or run with"
                " --workload-labels matching it.",
            )
