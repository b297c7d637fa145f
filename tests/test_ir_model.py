"""The IR model keeps its dataclass behaviour when compiled (native-modules.txt lists it): private keys
stay out of reprs (the admin API and error messages print IR objects), objects are frozen and compare
and hash by value (snapshots are diffed and cached by them), and `dataclasses.replace` works."""

from __future__ import annotations

import dataclasses

import pytest

from meshgate.ir import model


def test_private_key_is_not_in_repr() -> None:
    cert = model.TlsCertificate(source="Secret default/shop", cert_pem=b"CERT", key_pem=b"PRIVATE-KEY-BYTES")
    assert "PRIVATE-KEY-BYTES" not in repr(cert)
    assert "CERT" in repr(cert)


def test_frozen_value_objects() -> None:
    cluster = model.Cluster(name="outbound|80||shop.default.svc.cluster.local", service_host="shop", port=80)
    twin = model.Cluster(name="outbound|80||shop.default.svc.cluster.local", service_host="shop", port=80)
    assert cluster == twin and hash(cluster) == hash(twin)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cluster.port = 81  # type: ignore[misc]
    moved = dataclasses.replace(cluster, port=8080)
    assert moved.port == 8080 and moved.name == cluster.name and moved != cluster
    assert [f.name for f in dataclasses.fields(model.Route)][:3] == ["name", "match", "action"]
