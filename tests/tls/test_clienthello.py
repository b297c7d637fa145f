"""The ClientHello parser on hellos produced by Python's own TLS client (OpenSSL)."""

from __future__ import annotations

import ssl

import pytest

from meshgate.proxy import clienthello
from meshgate.proxy.clienthello import NEED_MORE, ClientHello, NotTls, parse


def _hello(server_name: str | None, alpn: list[str] | None = None) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_server_name_and_alpn() -> None:
    data = _hello("Shop.Example.COM", ["h2", "http/1.1"])
    result = parse(data)
    assert isinstance(result, ClientHello)
    assert result.server_name == "shop.example.com"
    assert result.alpn == ("h2", "http/1.1")
    assert result.size == len(data)


def test_no_sni() -> None:
    result = parse(_hello(None))
    assert isinstance(result, ClientHello) and result.server_name is None and result.alpn == ()


def test_every_prefix_needs_more() -> None:
    data = _hello("a.example.com")
    for cut in (1, 3, 5, 6, 40, len(data) - 1):
        assert parse(data[:cut]) is NEED_MORE, cut


def test_hello_split_over_two_records() -> None:
    data = _hello("split.example.com", ["http/1.1"])
    body = data[5:]
    first, second = body[:50], body[50:]
    records = b"".join(b"\x16\x03\x01" + len(part).to_bytes(2) + part for part in (first, second))
    result = parse(records)
    assert isinstance(result, ClientHello) and result.server_name == "split.example.com"
    assert parse(records[:60]) is NEED_MORE


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\x16\x03\x01\x00\x00",  # empty record
        b"\x16\x02\x00\x00\x05hello",  # SSLv2-ish major version
        b"\x17\x03\x03\x00\x05hello",  # application data first
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # ServerHello, not ClientHello
        b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",  # truncated body
    ],
)
def test_not_tls(data: bytes) -> None:
    assert isinstance(parse(data), NotTls)


def test_size_is_bounded() -> None:
    huge = b"\x16\x03\x01\x40\x00\x01\xff\xff\xff"  # claims a 16 MiB ClientHello
    assert parse(huge) == NotTls("ClientHello too large")
    assert isinstance(parse(huge, limit=100), NotTls)
    assert parse(b"") is NEED_MORE
    assert clienthello.MAX_HELLO == 16 * 1024


def test_garbage_never_raises() -> None:
    import random

    rng = random.Random(7)
    base = _hello("fuzz.example.com", ["http/1.1"])
    for _ in range(500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(5, len(data))] = rng.randrange(256)
        parse(bytes(data))  # any answer, never an exception
