"""`meshgate routes` and `meshgate explain` on the bundled examples (the seed topology)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshgate.cli.main import COMMANDS, build_parser, main

EXAMPLES = str(Path(__file__).parents[2] / "examples" / "seed")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_command_module_is_registered() -> None:
    package = Path(__file__).parents[2] / "src" / "meshgate" / "cli"
    modules = {f"meshgate.cli.{p.stem}" for p in package.glob("*.py")} - {
        "meshgate.cli.__init__",
        "meshgate.cli.main",
        "meshgate.cli.common",
    }
    assert modules == set(COMMANDS)
    assert list(COMMANDS) == sorted(COMMANDS)
    build_parser()  # every module's register() works


def test_routes_shows_listeners_vhosts_and_ordered_routes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "routes", "-f", EXAMPLES)
    assert code == 0
    assert "listener 0.0.0.0:80 HTTP (listens on 8080)" in out
    assert "vhost cafe.example.com" in out
    assert 'path exact "/coffee" -> forward to outbound|80||coffee-svc.default.svc.cluster.local' in out
    lines = out.splitlines()
    api = next(i for i, line in enumerate(lines) if "api: path prefix" in line)
    canary = next(i for i, line in enumerate(lines) if "canary-by-header:" in line)
    assert canary < api  # rule order is kept
    assert "(90)" in lines[api] and "(10)" in lines[api]
    # The seed's truncated Secret disables the HTTPS server; the reason names Secret and keys.
    assert "IST0161" in err and "istio-ingressgateway-certs" in err and "tls.crt" in err
    assert "20-abtest-gateway.yaml:25" in err


def test_routes_json_is_machine_readable_and_redacts_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "routes", "-f", EXAMPLES, "--json")
    assert code == 0
    data = json.loads(out)
    ports = sorted(listener["port"] for listener in data["listeners"])
    assert ports == [80, 443]
    codes = {d["code"] for d in data["diagnostics"]}
    assert {"IST0161", "IST0101"} <= codes
    assert "PRIVATE KEY" not in out


def test_explain_a_match(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "explain", "-f", EXAMPLES, "http://rest.xiaohoucode.com/api/users", "-H", "x-canary: true"
    )
    assert code == 0
    assert "canary-by-header matched" in out
    assert "outbound|80||rest-v2.peiyou-xiaohoucode.svc.cluster.local" in out
    assert "127.0.0.1:9004" in out
    assert "30-rest-virtualservice.yaml" in out


def test_explain_uses_listen_port_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "-f", EXAMPLES, "http://cafe.example.com:8080/tea")
    assert code == 0 and "tea-svc" in out and "port 80" in out


def test_explain_a_miss_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "-f", EXAMPLES, "http://cafe.example.com/tea/green")
    assert code == 0
    assert 'exact "/tea" does not match "/tea/green"' in out
    assert "404" in out and "NR" in out


def test_explain_unknown_host_and_unknown_port(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "explain", "-f", EXAMPLES, "http://nobody.example.org/")
    assert "404" in out and "NR" in out
    _, out, _ = run(capsys, "explain", "-f", EXAMPLES, "http://cafe.example.com:9999/")
    assert "9999" in out and "listener" in out.lower()


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "-f", EXAMPLES, "http://rest.xiaohoucode.com/docs/x", "--json")
    assert code == 0
    data = json.loads(out)
    text = json.dumps(data)
    assert "302" in text and "/help" in text


def test_explain_rejects_bad_header_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "explain", "-f", EXAMPLES, "http://a.example.com/", "-H", "no-colon")
    assert code == 2 and "Name: value" in err


def test_missing_file_is_reported_not_raised(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "routes", "-f", str(tmp_path / "nope.yaml"))
    assert code == 0
    assert "MG0006" in err and "nope.yaml" in err
    assert "no listeners" in out


def test_stdin_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    text = (Path(EXAMPLES) / "20-abtest-gateway.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, _ = run(capsys, "routes", "-f", "-")
    assert code == 0 and "listener 0.0.0.0:80" in out
