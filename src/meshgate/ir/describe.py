"""Short human-readable descriptions of IR pieces, shared by `routes`, `explain` and the admin API."""

from __future__ import annotations

from meshgate.ir.model import (
    Config,
    DirectResponse,
    FilterChain,
    Forward,
    HeaderMatch,
    HttpHandler,
    MatchKind,
    PathMatch,
    PathMatchKind,
    QueryMatch,
    Redirect,
    Route,
    RouteAction,
    RouteMatch,
    StringMatch,
    TcpProxy,
)

_PATH_WORDS = {
    PathMatchKind.EXACT: "exact",
    PathMatchKind.PREFIX: "prefix",
    PathMatchKind.REGEX: "regex",
    PathMatchKind.SEGMENT_PREFIX: "path-prefix",
}


def string_match(match: StringMatch) -> str:
    if match.kind is MatchKind.PRESENT:
        return "present"
    suffix = " (ignore case)" if match.ignore_case else ""
    return f'{match.kind.value} "{match.value}"{suffix}'


def path_match(match: PathMatch) -> str:
    suffix = " (ignore case)" if match.ignore_case else ""
    return f'{_PATH_WORDS[match.kind]} "{match.value}"{suffix}'


def header_match(match: HeaderMatch) -> str:
    if match.invert:
        return f"without header {match.name}" + (
            "" if match.match.kind is MatchKind.PRESENT else f" {string_match(match.match)}"
        )
    return f"header {match.name} {string_match(match.match)}"


def query_match(match: QueryMatch) -> str:
    return f"query {match.name} {string_match(match.match)}"


def route_match(match: RouteMatch) -> str:
    parts: list[str] = []
    if match.path is not None:
        parts.append(f"path {path_match(match.path)}")
    if match.method is not None:
        parts.append(f"method {string_match(match.method)}")
    if match.scheme is not None:
        parts.append(f"scheme {string_match(match.scheme)}")
    if match.authority is not None:
        parts.append(f"authority {string_match(match.authority)}")
    parts.extend(header_match(h) for h in match.headers)
    parts.extend(query_match(q) for q in match.query)
    return ", ".join(parts) if parts else "any request"


def action(value: RouteAction) -> str:
    match value:
        case Forward(clusters=clusters, rewrite=rewrite):
            targets = (
                ", ".join(c.cluster if len(clusters) == 1 else f"{c.cluster} ({c.weight})" for c in clusters)
                or "(no destination)"
            )
            extra = ""
            if rewrite is not None:
                bits = []
                if rewrite.uri is not None:
                    bits.append(f'uri "{rewrite.uri}"')
                if rewrite.regex is not None:
                    bits.append(f'regex "{rewrite.regex}" -> "{rewrite.regex_substitution}"')
                if rewrite.authority:
                    bits.append(f'authority "{rewrite.authority}"')
                extra = f" [rewrite {', '.join(bits)}]"
            return f"forward to {targets}{extra}"
        case Redirect() as r:
            bits = [
                f"{k} {v}"
                for k, v in (
                    ("scheme", r.scheme),
                    ("host", r.host),
                    ("path", r.path),
                    ("prefix", r.prefix_rewrite),
                )
                if v is not None
            ]
            if r.port is not None:
                bits.append(f"port {r.port or 'default'}")
            return f"redirect {r.code}" + (f" ({', '.join(bits)})" if bits else "")
        case DirectResponse(status=status, body=body):
            return f"direct response {status}" + (f" ({len(body)} bytes)" if body else "")
    raise AssertionError(f"unknown action {value!r}")  # pragma: no cover


def route_line(route: Route) -> str:
    name = route.name or "(unnamed)"
    return f"{name}: {route_match(route.match)} -> {action(route.action)}"


def chain_title(chain: FilterChain) -> str:
    sni = ", ".join(chain.server_names) if chain.server_names else "*"
    match chain.handler:
        case HttpHandler(route_table=table):
            tls = f"TLS {chain.tls.mode.value}" if chain.tls else "plaintext"
            return f"chain {chain.name} (SNI {sni}; {tls}; route table {table})"
        case TcpProxy():
            mode = chain.tls.mode.value if chain.tls else "TCP"
            return f"chain {chain.name} (SNI {sni}; {mode} proxy)"
    raise AssertionError("unknown handler")  # pragma: no cover


def cluster_names(config: Config) -> frozenset[str]:
    return frozenset(c.name for c in config.clusters)
