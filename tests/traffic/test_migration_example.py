"""Point 6: examples/migration/ through `meshgate serve` (subprocesses, loopback, bounded)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from e2e.e2e_helpers import ROOT, demo_backend, http_get, serve

EXAMPLE = ROOT / "examples" / "migration" / "migration.yaml"


def test_migration_example_runs_through_serve(tmp_path: Path) -> None:
    with ExitStack() as stack:
        ports = {
            name: stack.enter_context(demo_backend(tmp_path, name)) for name in ("old", "new-v1", "new-v2")
        }
        text = EXAMPLE.read_text()
        for fixed, name in (("18081", "old"), ("18082", "new-v1"), ("18083", "new-v2")):
            assert fixed in text
            text = text.replace(fixed, str(ports[name]))
        config = tmp_path / "migration.yaml"
        config.write_text(text)
        proc, port, _ = stack.enter_context(serve(config, tmp_path))
        url = f"http://127.0.0.1:{port}/cart"

        def name_of(**headers: str) -> str:
            status, body = http_get(url, headers={"Host": "shop.example.com", **headers})
            assert status == 200, (status, body, proc.stderr())
            return str(json.loads(body)["name"])

        assert {name_of(**{"x-canary": "true"}) for _ in range(5)} == {"new-v2"}
        assert {name_of(Cookie="session=1; migration=new") for _ in range(5)} == {"new-v1"}
        assert {name_of(Cookie="migration=old") for _ in range(5)} == {"old"}
        split = [name_of() for _ in range(300)]
        old = split.count("old")
        assert set(split) == {"old", "new-v1"}
        # binomial(300, 0.8): mean 240, sd ~6.9; 6 sd either side
        assert 198 < old < 282, old
        _status, body = http_get(url, headers={"Host": "shop.example.com", "Cookie": "migration=old"})
        assert json.loads(body)["host"] == "shop.example.com"
