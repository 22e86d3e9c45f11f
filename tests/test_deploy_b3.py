"""A rendered project's deploy.py on azure-ai-projects 2.0.0b3, the skill document's SDK line.

Needs network access to PyPI on the first run: it creates build/deploy-b3/venv with
`uv` and installs azure-ai-projects==2.0.0b3 plus the project's own dependencies.
Later runs reuse that venv. The deploy runs against the project's fake Foundry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BIN, TEMPLATE, render, run

B3 = "azure-ai-projects==2.0.0b3"
BUILD = TEMPLATE / "build" / "deploy-b3"
VENV = BUILD / "venv"
PYTHON = VENV / "bin" / "python"
DRIVER = Path(__file__).with_name("deploy_b3_driver.py")
IMAGE = "myacr.azurecr.io/b3-agent:20261101T1200"
ANSWERS = {
    "agent_name": "b3-agent",
    "description": "The b3 line",
    "model_deployment": "gpt-4o-mini",
    "protocol_version": "1.0.0",
    "resources": "2/4Gi",
    "code_interpreter": True,
    "mcp_servers": {"docs": "https://mcp.example.com/mcp"},
    "function_tools": {"lookup_order": "Look up an order"},
    "environment_variables": {"LOG_LEVEL": "info"},
}


def b3_python(project: Path) -> Path:
    """The cached venv with 2.0.0b3 and the project installed into it (editable, no extras)."""
    uv = str(BIN / "uv")
    if not PYTHON.exists():
        run([uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], cwd=TEMPLATE)
    # Already-satisfied requirements make this a quick, offline no-op on later runs.
    run([uv, "pip", "install", "--quiet", "--python", str(PYTHON), B3, "-e", str(project)], cwd=TEMPLATE)
    return PYTHON


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = render(tmp_path_factory.mktemp("b3") / "b3-agent", ANSWERS)
    results = project.parent / "results.json"
    python = b3_python(project)
    subprocess.run([str(python), str(DRIVER), str(project), "b3_agent", str(results)], check=True, timeout=300)
    return json.loads(results.read_text())


EXPECTED_DEFINITION = {
    "kind": "hosted",
    "container_protocol_versions": [{"protocol": "responses", "version": "1.0.0"}],
    "cpu": "2",
    "memory": "4Gi",
    "image": IMAGE,
    "tools": [
        {"type": "code_interpreter"},
        {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/mcp"},
    ],
    "environment_variables": {"LOG_LEVEL": "info", "MODEL_DEPLOYMENT_NAME": "gpt-4o-mini"},
}


def test_the_b3_sdk_is_the_one_installed(report) -> None:
    assert report["sdk"] == "2.0.0b3"


def test_b3_sends_image_based_hosted_definition(report) -> None:
    deploy = report["deploy"]
    assert deploy["code"] == 0, deploy["stderr"]
    create = deploy["requests"][0]
    assert (create["method"], create["path"]) == (
        "POST",
        "/api/projects/demo/agents/b3-agent/versions",
    )
    assert create["query"] == {"api-version": "2025-11-15-preview"}
    assert create["headers"]["Authorization"] == "Bearer test-token"
    assert create["body"] == {"definition": EXPECTED_DEFINITION, "description": "The b3 line"}
    assert "container_configuration" not in create["body"]["definition"]


def test_b3_waits_until_active_and_skips_endpoint_steps(report) -> None:
    deploy = report["deploy"]
    methods = [(r["method"], r["path"].rsplit("/", 2)[-2:]) for r in deploy["requests"]]
    assert methods == [
        ("POST", ["b3-agent", "versions"]),
        ("GET", ["versions", "1"]),
        ("GET", ["versions", "1"]),
    ]
    assert "b3-agent version 1 is active" in deploy["stdout"]
    assert "no routing or smoke request" in deploy["stdout"]


def test_b3_dry_run_matches_what_it_sends(report) -> None:
    dry_run = report["dry_run"]
    assert dry_run["code"] == 0 and dry_run["requests"] == []
    assert json.loads(dry_run["stdout"]) == report["deploy"]["requests"][0]["body"]
    assert "tools are not part" not in dry_run["stderr"]


def test_b3_backend_without_status_counts_as_created(report) -> None:
    no_status = report["no_status"]
    assert no_status["code"] == 0, no_status["stderr"]
    assert json.loads(no_status["stdout"])["status"] is None
    assert [r["method"] for r in no_status["requests"]] == ["POST"]


def test_b3_failure_names_cause_and_fix(report) -> None:
    failed = report["image_error"]
    assert failed["code"] == 1
    assert "authentication-as-ARM" in failed["stderr"] and "Traceback" not in failed["stderr"]


def test_b3_invoke_names_the_sdk_to_install(report) -> None:
    invoke = report["invoke"]
    assert invoke["code"] == 1 and invoke["requests"] == []
    assert invoke["stderr"] == (
        "error: invoke: azure-ai-projects 2.0.0b3 predates agent endpoints; for routing, the "
        'smoke request and invoke, pip install "azure-ai-projects>=2.10,<3"\n'
    )
