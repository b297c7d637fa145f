"""`meshgate analyze`: exit codes (0 / 1 / 2), --fail-on, --suppress, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshgate.analysis.analyzers import ALL
from meshgate.cli.main import main

HERE = Path(__file__).parent
SEED_DIR = str(HERE.parents[1] / "examples" / "seed")
CLEAN = str(HERE / "cases" / "clean.yaml")
WARNINGS_ONLY = str(HERE / "cases" / "warnings.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_errors_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-f", SEED_DIR)
    assert code == 1
    assert "examples/seed/20-abtest-gateway.yaml:25: Error [IST0161]" in out


def test_clean_input_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-f", CLEAN)
    assert code == 0, out
    assert "No problems found." in out and "0 errors, 0 warnings, 0 info" in out


def test_fail_on_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "-f", WARNINGS_ONLY)[0] == 0  # default threshold: error
    assert run(capsys, "-f", WARNINGS_ONLY, "--fail-on", "warning")[0] == 1
    assert run(capsys, "-f", WARNINGS_ONLY, "--fail-on", "info")[0] == 1
    assert run(capsys, "-f", CLEAN, "--fail-on", "info")[0] == 0


def test_suppress_removes_messages_and_changes_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "-f",
        SEED_DIR,
        "-o",
        "json",
        "--suppress",
        "IST0161=Gateway peiyou-xiaohoucode/abtest-gateway",
        "--suppress",
        "IST0101=Gateway *",
    )
    data = json.loads(out)
    assert code == 0
    assert data["summary"]["suppressed"] == 2 and data["summary"]["errors"] == 0
    assert {d["code"] for d in data["diagnostics"]} >= {"MG0409"}
    # Istio's spelling of the resource (Kind name.namespace) works too.
    code, out, _ = run(
        capsys, "-f", SEED_DIR, "-o", "json", "--suppress", "MG0409=Ingress cafe-ingress.default"
    )
    assert "MG0409" not in {d["code"] for d in json.loads(out)["diagnostics"]}


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-f", SEED_DIR, "--suppress", "IST0101")
    assert code == 2 and "CODE=RESOURCE" in err
    code, _, err = run(capsys, "-f", str(HERE / "does-not-exist.yaml"))
    assert code == 2 and "does-not-exist.yaml" in err
    for argv in (
        ["-f", SEED_DIR, "-o", "xml"],
        ["-f", SEED_DIR, "--fail-on", "fatal"],
        [],
        ["-f", SEED_DIR, "--cert-warn-days", "soon"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(["analyze", *argv])
        assert exc.value.code == 2
        capsys.readouterr()


def test_formats(capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("json", "sarif"):
        code, out, _ = run(capsys, "-f", SEED_DIR, "-o", fmt)
        assert code == 1 and json.loads(out)
    code, out, _ = run(capsys, "-f", SEED_DIR, "-o", "yaml")
    assert code == 1 and "diagnostics:" in out


def test_list_analyzers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-f", SEED_DIR, "--list-analyzers")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [a.name for a in ALL]


def test_cert_warn_days_reaches_the_analyzer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The test certificate is valid until 2044: a window of 30 years flags it, the default does not.
    source = (HERE / "testdata" / "gateway.CertificateExpiry" / "clean.yaml").read_text(encoding="utf-8")
    from .fixtures import expand

    path = tmp_path / "gateway.yaml"
    path.write_text(expand(source), encoding="utf-8")
    assert "MG0412" not in run(capsys, "-f", str(path))[1]
    assert "MG0412" in run(capsys, "-f", str(path), "--cert-warn-days", str(365 * 30))[1]
