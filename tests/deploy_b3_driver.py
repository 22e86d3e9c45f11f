"""Drive a rendered project's deploy CLI against its fake Foundry, in a 2.0.0b3 venv.

Run by test_deploy_b3.py with the venv's python:
    python deploy_b3_driver.py <project> <package> <results.json>
Each scenario starts a fresh fake, runs `deploy.py`'s main with the test credential
and records the exit code, the output and every request the SDK sent.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import tempfile
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

IMAGE = "myacr.azurecr.io/b3-agent:20261101T1200"
SCENARIOS = {
    "dry_run": ({}, ["deploy", "--dry-run", "--image", IMAGE]),
    "deploy": ({"creating_polls": 2}, ["deploy", "--poll", "0", "--image", IMAGE]),
    "no_status": ({"report_status": False}, ["deploy", "--image", IMAGE, "--json"]),
    "image_error": (
        {"failure": ("ImageError", "Failed to pull container image")},
        ["deploy", "--poll", "0", "--image", IMAGE],
    ),
    "invoke": ({}, ["invoke", "hello"]),
}


def main() -> None:
    project, package, results = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    sys.path.insert(0, str(project / "tests"))
    fake_foundry = importlib.import_module("fake_foundry")
    cli = importlib.import_module(f"{package}.deployment.cli")
    report = {"sdk": metadata.version("azure-ai-projects")}
    for name, (script, argv) in SCENARIOS.items():
        with tempfile.TemporaryDirectory() as folder:
            fake = fake_foundry.FakeFoundry(Path(folder))
            fake.script = fake_foundry.Script(**script)
            os.environ.update(
                SSL_CERT_FILE=str(fake.ca_file),
                REQUESTS_CA_BUNDLE=str(fake.ca_file),
                FOUNDRY_PROJECT_ENDPOINT=fake.endpoint,
            )
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = cli.main(argv, root=project, credential=fake_foundry.StaticTokenCredential())
            finally:
                fake.close()
            report[name] = {
                "code": code,
                "stdout": out.getvalue(),
                "stderr": err.getvalue(),
                "requests": [asdict(request) for request in fake.requests],
            }
    results.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
