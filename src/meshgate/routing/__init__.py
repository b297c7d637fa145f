"""Sans-IO routing core: compile the IR once into a frozen table, then decide per request.

    table = compile_config(ir_config)                # once per snapshot
    answer = decide(table, RequestView(...), rng)    # per request: RouteDecision | LocalReply
    upstream_target(answer.route, request)           # path+query to send upstream

Nothing in this package touches sockets, TLS, threads or an event loop (tests enforce it).
"""

from meshgate.routing.compile import compile_config
from meshgate.routing.decide import decide
from meshgate.routing.decision import Decision, LocalReply, RouteDecision
from meshgate.routing.explain import Explanation, explain
from meshgate.routing.request import RequestView
from meshgate.routing.rewrite import upstream_authority, upstream_target
from meshgate.routing.table import RoutingTable, select_chain, select_listener, select_vhost

__all__ = [
    "Decision",
    "Explanation",
    "LocalReply",
    "RequestView",
    "RouteDecision",
    "RoutingTable",
    "compile_config",
    "decide",
    "explain",
    "select_chain",
    "select_listener",
    "select_vhost",
    "upstream_authority",
    "upstream_target",
]
