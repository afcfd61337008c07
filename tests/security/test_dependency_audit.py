"""The audit step fails on a known vulnerability, and never passes pins it could not check when
an audit is required (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AUDIT = Path(__file__).resolve().parents[2] / ".ci" / "audit.py"
CLEAN = {"name": "jinja2", "version": "3.1.6", "vulns": []}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.4",
    "vulns": [{"id": "GHSA-q2x7-8rv6-6q7h", "fix_versions": ["3.1.5"], "aliases": [], "description": ""}],
}
UNCHECKED = {"name": "redis", "version": "8.1.0", "skip_reason": "Dependency not found on PyPI"}


def judge(
    tmp_path: Path, dependencies: list[dict[str, object]], *, required: bool
) -> subprocess.CompletedProcess[str]:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
    env = {**os.environ, "SDM_REQUIRE_AUDIT": "1" if required else "0"}
    return subprocess.run(
        [sys.executable, str(AUDIT), "--report", str(report)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("required", [True, False])
def test_a_known_vulnerability_fails_the_audit(tmp_path: Path, required: bool) -> None:
    result = judge(tmp_path, [CLEAN, VULNERABLE], required=required)
    assert result.returncode == 1
    assert "jinja2==3.1.4: GHSA-q2x7-8rv6-6q7h (fixed in 3.1.5)" in result.stdout


def test_pins_that_could_not_be_checked_fail_a_required_audit(tmp_path: Path) -> None:
    result = judge(tmp_path, [CLEAN, UNCHECKED], required=True)
    assert result.returncode == 1
    assert "could not be checked" in result.stderr


def test_pins_that_could_not_be_checked_only_warn_when_not_required(tmp_path: Path) -> None:
    result = judge(tmp_path, [CLEAN, UNCHECKED], required=False)
    assert result.returncode == 0
    assert "UNAUDITED" in result.stderr


def test_a_clean_report_passes(tmp_path: Path) -> None:
    result = judge(tmp_path, [CLEAN], required=True)
    assert result.returncode == 0
    assert "no known vulnerabilities in 1 pinned packages" in result.stdout


def test_the_lock_is_what_make_test_audits() -> None:
    makefile = (AUDIT.parents[1] / "Makefile").read_text()
    assert "audit: $(STAMP)\n\t$(BIN)/python .ci/audit.py" in makefile
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "audit" in test_line.split()
