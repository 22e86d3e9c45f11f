"""What `python -m <package>` sets up in its process before it serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import PACKAGE, PROJECT

PROBE = f"""
import gc
from {PACKAGE}.hosting import serve

def report(server):
    print(gc.isenabled(), gc.get_freeze_count() > 0, gc.get_threshold()[0])

serve.DrainingServer.run = report
serve.main(["--env-file", "", "--port", "0"])
"""


def test_the_collector_runs_over_young_objects_every_ten_thousand_not_seven_hundred(
    tmp_path: Path,
) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    enabled, frozen, young = result.stdout.split()
    assert (enabled, frozen) == ("True", "True")  # start-up frozen, the collector back on
    assert young == "10000"
