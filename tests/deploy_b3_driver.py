"""Drive a rendered project's deploy CLI against its fake Foundry, in a 2.0.0b3 venv.

Run by test_deploy_b3.py with the venv's python:
    python deploy_b3_driver.py <project> <package> <results.json>
Each scenario starts a fresh fake, runs `deploy.py`'s main with the test credential
and records the exit code, the output, every request that reached the fake, and what the
library's connect() does when a user's own code calls it.
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
    "dry_run": ["deploy", "--dry-run", "--image", IMAGE],
    "code_dry_run": ["deploy", "--dry-run", "--code"],
    "deploy": ["deploy", "--poll", "0", "--image", IMAGE],
    "versions": ["versions"],
    "show": ["show", "1"],
    "delete": ["delete", "1", "--yes"],
    "invoke": ["invoke", "hello"],
}


def main() -> None:
    project, package, results = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    sys.path.insert(0, str(project / "tests"))
    fake_foundry = importlib.import_module("fake_foundry")
    cli = importlib.import_module(f"{package}.deployment.cli")
    operations = importlib.import_module(f"{package}.deployment.operations")
    report = {"sdk": metadata.version("azure-ai-projects")}
    for name, argv in SCENARIOS.items():
        with tempfile.TemporaryDirectory() as folder:
            fake = fake_foundry.FakeFoundry(Path(folder))
            fake.add_version("b3-agent")
            os.environ.update(
                SSL_CERT_FILE=str(fake.ca_file),
                REQUESTS_CA_BUNDLE=str(fake.ca_file),
                FOUNDRY_PROJECT_ENDPOINT=fake.endpoint,
            )
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = cli.main(argv, root=project, credential=fake_foundry.StaticTokenCredential())
                try:
                    operations.connect(fake.endpoint, fake_foundry.StaticTokenCredential())
                    connect = "connected"
                except Exception as error:  # noqa: BLE001 - what a user's code would see
                    connect = f"{type(error).__name__}: {error}"
            finally:
                fake.close()
            report[name] = {
                "code": code,
                "stdout": out.getvalue(),
                "stderr": err.getvalue(),
                "endpoint": fake.endpoint,
                "connect": connect,
                "requests": [asdict(request) for request in fake.requests],
            }
    results.write_text(json.dumps(report, indent=2, default=repr), encoding="utf-8")


if __name__ == "__main__":
    main()
