"""Data-plane errors. Each carries what the client sees (status, body) and what the access log and
metrics record (Envoy %RESPONSE_FLAGS% and %RESPONSE_CODE_DETAILS%).

    ProxyError
    ├── DownstreamError          the client broke the protocol (400 DPE, 413, 431, 408, 426)
    ├── DownstreamDisconnect     the client went away mid-exchange (DC, no answer)
    └── UpstreamError            the backend could not answer (502/503/504)
        ├── NoHealthyUpstream    503 UH
        ├── ConnectFailure       503 UF
        ├── Overflow             503 UO   (circuit breaker: max connections/pending/requests)
        ├── UpstreamReset        503 UC   (closed before the response started)
        ├── UpstreamProtocol     502 UPE  (unparsable response)
        └── UpstreamTimeout      504 UT   (route timeout)

Library exceptions (OSError, TimeoutError, httptools errors) are turned into these at one place
each: `connect_error()` here for connects, the protocols for parser errors. A status of 0 means
"close the connection without a response".
"""

from __future__ import annotations

_RESET_PREFIX = b"upstream connect error or disconnect/reset before headers. reset reason: "


class ProxyError(Exception):
    status: int = 500
    flags: str = ""
    details: str = ""
    body: bytes = b""

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        flags: str | None = None,
        details: str | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__name__)
        if status is not None:
            self.status = status
        if flags is not None:
            self.flags = flags
        if details is not None:
            self.details = details
        if body is not None:
            self.body = body


class DownstreamError(ProxyError):
    """Malformed or unacceptable request; the connection is closed after the reply."""

    status = 400
    flags = "DPE"
    details = "http1.codec_error"


class HeaderTooLarge(DownstreamError):
    status = 431
    details = "http1.headers_too_large"


class BodyTooLarge(DownstreamError):
    status = 413
    flags = ""
    details = "request_payload_too_large"
    body = b"Payload Too Large"


class HeaderTimeout(DownstreamError):
    status = 408
    flags = ""
    details = "request_header_timeout"
    body = b"request header timeout"


class VersionRefused(DownstreamError):
    """HTTP/1.0 is off on Istio gateways (`accept_http_10: false`)."""

    status = 426
    flags = ""
    details = "low_version"


class DownstreamDisconnect(ProxyError):
    """The client went away before the response was complete: no answer is possible (DC)."""

    status = 0
    flags = "DC"
    details = "downstream_remote_disconnect"


class UpstreamError(ProxyError):
    status = 503


class NoHealthyUpstream(UpstreamError):
    flags = "UH"
    details = "no_healthy_upstream"
    body = b"no healthy upstream"


class ConnectFailure(UpstreamError):
    flags = "UF"
    details = "upstream_reset_before_response_started{connection_failure}"
    body = _RESET_PREFIX + b"connection failure"


class Overflow(UpstreamError):
    flags = "UO"
    details = "upstream_reset_before_response_started{overflow}"
    body = _RESET_PREFIX + b"overflow"


class UpstreamReset(UpstreamError):
    flags = "UC"
    details = "upstream_reset_before_response_started{connection_termination}"
    body = _RESET_PREFIX + b"connection termination"


class UpstreamProtocol(UpstreamError):
    status = 502
    flags = "UPE"
    details = "upstream_reset_before_response_started{protocol_error}"
    body = _RESET_PREFIX + b"protocol error"


class UpstreamTimeout(UpstreamError):
    status = 504
    flags = "UT"
    details = "response_timeout"
    body = b"upstream request timeout"


def connect_error(exc: BaseException) -> UpstreamError:
    """Map a failed `create_connection` to the error the client sees (one boundary for OSError)."""
    if isinstance(exc, TimeoutError):
        err = ConnectFailure("connect timeout")
        err.__cause__ = exc
        return err
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    err = ConnectFailure(reason)
    err.__cause__ = exc
    return err
