"""Loading: files, directories, JSON, multi-document YAML, List, stdin; origins; problems as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshgate.resources.core import Secret, Service
from meshgate.resources.ingress import Ingress
from meshgate.resources.istio import Gateway, VirtualService
from meshgate.resources.registry import REGISTRY
from meshgate.sources import load_paths, load_text

SEED = Path(__file__).parents[1] / "translate" / "testdata" / "seed-notes.in.yaml"

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: shop
spec:
  ports:
    - port: 80
"""


def codes(result: object) -> list[str]:
    return [d.code for d in result.diagnostics]  # type: ignore[attr-defined]


def test_directories_are_walked_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deep").mkdir()
    (tmp_path / "a.yaml").write_text(SERVICE.format(name="a"))
    (tmp_path / "b" / "c.yml").write_text(SERVICE.format(name="c"))
    (tmp_path / "b" / "deep" / "d.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "d", "namespace": "shop"}})
    )
    (tmp_path / "notes.txt").write_text("not config")
    result = load_paths([str(tmp_path)])
    assert sorted(s.name for s in result.bundle.of(Service)) == ["a", "c", "d"]
    assert [Path(f).name for f in result.files] == ["a.yaml", "c.yml", "d.json"]
    assert result.diagnostics == ()


def test_multi_document_yaml_keeps_file_and_line_per_object(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "# leading comment\n---\n" + SERVICE.format(name="one") + "---\n" + SERVICE.format(name="two")
    )
    result = load_paths([str(path)])
    one, two = sorted(result.bundle.of(Service), key=lambda s: s.name)
    assert (one.origin.file, one.origin.line) == (str(path), 3)
    assert two.origin.line == 3 + SERVICE.count("\n") + 1
    assert one.origin_of("spec.ports[0].port").line == 10


def test_kind_list_is_unpacked_with_item_origins() -> None:
    text = """apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: first, namespace: shop}
  - apiVersion: v1
    kind: Service
    metadata:
      name: second
      namespace: shop
"""
    result = load_text(text, "list.yaml")
    first, second = sorted(result.bundle.of(Service), key=lambda s: s.name)
    assert first.origin.line == 4 and second.origin.line == 7
    assert second.origin_of("metadata.name").line == 10


def test_stdin_is_read_for_dash() -> None:
    result = load_paths(["-"], stdin_text=SERVICE.format(name="piped"))
    assert [s.name for s in result.bundle.of(Service)] == ["piped"]
    assert result.bundle.of(Service)[0].origin.file == "<stdin>"


def test_invalid_yaml_document_names_file_and_line_and_others_still_load() -> None:
    text = SERVICE.format(name="before") + "---\nkind: [unclosed\n---\n" + SERVICE.format(name="after")
    result = load_text(text, "mixed.yaml")
    assert sorted(s.name for s in result.bundle.of(Service)) == ["after", "before"]
    (problem,) = result.diagnostics
    assert problem.code == "MG0001" and problem.origin is not None
    assert problem.origin.file == "mixed.yaml" and problem.origin.line == 11


def test_invalid_json_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"apiVersion": "v1",\n "kind": }')
    result = load_paths([str(path)])
    assert codes(result) == ["MG0001"]
    assert result.diagnostics[0].origin.line == 2  # type: ignore[union-attr]


def test_unknown_kind_is_skipped_with_a_note_and_unknown_version_is_warned() -> None:
    text = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
        "apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: g}\n"
    )
    result = load_text(text, "x.yaml")
    assert codes(result) == ["MG0002", "MG0007"]
    assert [d.level.label for d in result.diagnostics] == ["Info", "Warning"]
    assert len(result.bundle) == 0


def test_unknown_fields_are_warned_with_their_line_and_the_object_still_loads() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [a.example.com]
  htttp: []
  http:
    - route: [{destination: {host: web, subsett: v1}}]
"""
    result = load_text(text, "vs.yaml")
    assert len(result.bundle.of(VirtualService)) == 1
    found = {d.field_path: d.origin.line for d in result.diagnostics if d.origin}
    assert found == {"spec.htttp": 6, "spec.http[0].route[0].destination.subsett": 8}
    assert codes(result) == ["MG0003", "MG0003"]


def test_schema_errors_drop_only_the_object_and_name_the_field() -> None:
    text = (
        SERVICE.format(name="good") + "---\n" + SERVICE.format(name="bad").replace("port: 80", "port: eighty")
    )
    result = load_text(text, "svc.yaml")
    assert [s.name for s in result.bundle.of(Service)] == ["good"]
    (problem,) = result.diagnostics
    assert problem.code == "IST0106" and problem.field_path == "spec.ports[0].port"
    assert problem.origin is not None and problem.origin.line == 17
    assert problem.resource is not None and str(problem.resource) == "Service shop/bad"


def test_not_an_object_and_missing_name() -> None:
    result = load_text(
        "- just\n- a list\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n", "y.yaml"
    )
    assert codes(result) == ["MG0005", "IST0106"]


def test_duplicates_keep_the_later_definition() -> None:
    text = SERVICE.format(name="dup") + "---\n" + SERVICE.format(name="dup").replace("port: 80", "port: 81")
    result = load_text(text, "dup.yaml")
    (service,) = result.bundle.of(Service)
    assert service.spec.ports[0].port == 81
    assert codes(result) == ["MG0004"]
    assert "dup.yaml:1" in result.diagnostics[0].message


def test_namespace_defaults_to_default() -> None:
    result = load_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "s.yaml")
    assert result.bundle.of(Service)[0].namespace == "default"


def test_missing_path_is_a_diagnostic(tmp_path: Path) -> None:
    result = load_paths([str(tmp_path / "missing.yaml")])
    assert codes(result) == ["MG0006"]


@pytest.mark.parametrize(("api_version", "kind"), sorted(REGISTRY))
def test_every_kind_and_version_loads(api_version: str, kind: str) -> None:
    namespace = "" if kind == "IngressClass" else "\n  namespace: ns"
    result = load_text(
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: obj{namespace}\n", "k.yaml"
    )
    assert result.diagnostics == (), [d.render() for d in result.diagnostics]
    (loaded,) = result.bundle.resources
    assert loaded.kind == kind and loaded.name == "obj"


def test_old_ingress_versions_convert_to_v1_shape() -> None:
    text = """apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: old}
spec:
  backend: {serviceName: fallback, servicePort: http}
  rules:
    - host: a.example.com
      http:
        paths:
          - path: /x
            backend: {serviceName: svc, servicePort: 8080}
"""
    (ingress,) = load_text(text, "i.yaml").bundle.of(Ingress)
    backend = ingress.spec.rules[0].http.paths[0].backend.service  # type: ignore[union-attr]
    assert backend is not None and (backend.name, backend.port.number) == ("svc", 8080)
    default = ingress.spec.default_backend.service  # type: ignore[union-attr]
    assert default is not None and (default.name, default.port.name) == ("fallback", "http")


def test_seed_notes_load_verbatim() -> None:
    """Every manifest of the seed notes, including the non-breaking-space indentation and the exported
    Secret with managedFields and truncated data, loads without an error."""
    result = load_paths([str(SEED)])
    assert {d.code for d in result.diagnostics} == {"MG0008"}
    assert len(result.bundle.of(Gateway)) == 3
    assert {g.namespace for g in result.bundle.of(Gateway)} == {
        "peiyou-****",
        "peiyou-xiaohoucode",
        "peiyou-xiaohoucode-saas",
    }
    (secret,) = result.bundle.of(Secret)
    assert secret.metadata.managed_fields and secret.type == "kubernetes.io/tls"
    assert "LS0t" not in repr(secret)  # secret data never reaches a repr
    (ingress,) = result.bundle.of(Ingress)
    assert ingress.name == "cafe-ingress" and ingress.namespace == "default"
