"""`meshgate serve` and `meshgate demo-backend` as processes: readiness, access log, diagnostics,
exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from .e2e_helpers import (
    GATEWAY,
    PYTHON,
    ROOT,
    demo_backend,
    env,
    free_port,
    http_get,
    serve,
    service,
)

VS = """\
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ["app.example"]
  gateways: [istio-system/edge]
  http:
    - name: app
      route: [{destination: {host: app}}]
"""

BROKEN = """\
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: broken, namespace: default}
spec:
  hosts: ["broken.example"]
  gateways: [istio-system/edge]
  http: 7
"""


def test_serve_routes_logs_and_stops(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "app") as backend_port:
        config = tmp_path / "app.yaml"
        config.write_text(GATEWAY + VS + BROKEN + service("app", backend_port))
        with serve(config, tmp_path, "--access-log", "json") as (proc, port, admin):
            status, body = http_get(f"http://127.0.0.1:{port}/hello?x=1", headers={"Host": "app.example"})
            assert status == 200 and json.loads(body)["name"] == "app"
            assert http_get(f"http://127.0.0.1:{port}/", headers={"Host": "nope.example"})[0] == 404
            dump = json.loads(http_get(f"http://127.0.0.1:{admin}/config_dump")[1])
            assert dump["config"]["listeners"][0]["port"] == 80
            metrics = http_get(f"http://127.0.0.1:{admin}/stats/prometheus")[1].decode()
            assert 'response_code="200"' in metrics and 'response_flags="NR"' in metrics
            assert proc.stop() == 0
        lines = [json.loads(line) for line in proc.stdout().splitlines() if line.strip()]
        assert [(x["method"], x["path"], x["response_code"]) for x in lines] == [
            ("GET", "/hello?x=1", 200),
            ("GET", "/", 404),
        ]
        assert lines[0]["route_name"] == "app" and lines[0]["upstream_host"] == f"127.0.0.1:{backend_port}"
        assert lines[1]["response_flags"] == "NR"
        stderr = proc.stderr()
        assert f"{config}:" in stderr and "Error [" in stderr  # the broken VirtualService, file:line
        assert "listener 0.0.0.0_80 (port 80) on 127.0.0.1:" in stderr


def test_serve_text_access_log(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "app") as backend_port:
        config = tmp_path / "app.yaml"
        config.write_text(GATEWAY + VS + service("app", backend_port))
        with serve(config, tmp_path, "--access-log", "text") as (proc, port, _):
            http_get(f"http://127.0.0.1:{port}/t", headers={"Host": "app.example", "User-Agent": "probe"})
            proc.stop()
        (line,) = proc.stdout().splitlines()
        assert '"GET /t HTTP/1.1" 200 - via_upstream - "-" 0 ' in line
        assert '"probe"' in line and '"app.example"' in line and line.endswith(" app")


def test_serve_exits_nonzero_when_the_address_is_taken(tmp_path: Path) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(GATEWAY + VS + service("app", 1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                PYTHON,
                "-m",
                "meshgate",
                "serve",
                "-f",
                str(config),
                "--bind",
                f"80=127.0.0.1:{port}",
                "--admin",
                f"127.0.0.1:{free_port()}",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            env=env(),
            cwd=ROOT,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_exits_nonzero_when_nothing_can_be_served(tmp_path: Path) -> None:
    config = tmp_path / "only-a-service.yaml"
    config.write_text(service("app", 1).lstrip("-\n"))
    result = subprocess.run(
        [PYTHON, "-m", "meshgate", "serve", "-f", str(config), "--admin", "off"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=env(),
        cwd=ROOT,
    )
    assert result.returncode == 1 and "no listener" in result.stderr
    missing = subprocess.run(
        [PYTHON, "-m", "meshgate", "serve", "-f", str(tmp_path / "missing.yaml"), "--admin", "off"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=env(),
        cwd=ROOT,
    )
    assert missing.returncode == 1 and "missing.yaml" in missing.stderr


def test_demo_backend_echoes(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "echo") as port:
        status, body = http_get(f"http://127.0.0.1:{port}/p?status=201", headers={"X-A": "1"})
        seen = json.loads(body)
        assert status == 201 and seen["name"] == "echo" and seen["path"] == "/p"
        assert seen["headers"]["x-a"] == "1"
