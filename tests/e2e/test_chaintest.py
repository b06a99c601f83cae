"""`eduketen chaintest` in a small size: a whole season between two real installations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_chaintest_small_season_passes(tmp_path):
    eduketen = str(Path(sys.executable).parent / "eduketen")
    result = subprocess.run(
        [eduketen, "chaintest", "--dir", str(tmp_path / "chain"), "--schools", "3", "--pupils", "5", "--timeout", "90"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(result.stdout[-4000:], result.stderr[-4000:])
    assert result.returncode == 0, result.stdout + result.stderr
    steps = json.loads((tmp_path / "chain" / "report.json").read_text())
    names = [s["step"] for s in steps]
    for expected in (
        "registration (Deelnemerslijst per school)",
        "provisional advice with unknown pupils",
        "results delivered, PDF reports fetched",
        "result correction (standlevering)",
        "test supplier down, then back: nothing lost",
        "duplicate delivery: one effect",
    ):
        assert expected in names
    assert all(s["ok"] for s in steps)
