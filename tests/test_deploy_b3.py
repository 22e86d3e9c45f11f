"""A rendered project's deploy.py on azure-ai-projects 2.0.0b3, the skill document's SDK line.

That line talks to the first-preview backend, retired on 2026-08-20: deploy.py still
recognises it (--dry-run prints its definition) but sends nothing, and says what to install.

Needs network access to PyPI on the first run: it creates build/deploy-b3/venv with
`uv` and installs azure-ai-projects==2.0.0b3 plus the project's own dependencies.
Later runs reuse that venv. The commands run against the project's fake Foundry.
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
    "protocol_version": "2.0.0",
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
    "container_protocol_versions": [{"protocol": "responses", "version": "2.0.0"}],
    "cpu": "2",
    "memory": "4Gi",
    "image": IMAGE,
    "tools": [
        {"type": "code_interpreter"},
        {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/mcp"},
    ],
    "environment_variables": {"LOG_LEVEL": "info", "MODEL_DEPLOYMENT_NAME": "gpt-4o-mini"},
}
RETIRED = (
    "error: azure-ai-projects 2.0.0b3 talks to the first-preview backend, retired on 2026-08-20; "
    'nothing was sent: pip install -e ".[deploy]"  (azure-ai-projects>=2.10,<3)\n'
)


def test_the_b3_sdk_is_the_one_installed(report) -> None:
    assert report["sdk"] == "2.0.0b3"


def test_b3_dry_run_still_prints_the_image_based_definition(report) -> None:
    dry_run = report["dry_run"]
    assert dry_run["code"] == 0, dry_run["stderr"]
    assert dry_run["requests"] == []
    assert json.loads(dry_run["stdout"]) == {"definition": EXPECTED_DEFINITION, "description": "The b3 line"}
    target = f"POST {dry_run['endpoint']}/agents/b3-agent/versions?api-version=2025-11-15-preview\n"
    assert target in dry_run["stderr"]
    assert "tools are not part" not in dry_run["stderr"]


@pytest.mark.parametrize("scenario", ["deploy", "versions", "show", "delete", "invoke"])
def test_every_live_call_on_b3_exits_2_and_sends_nothing(report, scenario) -> None:
    result = report[scenario]
    assert (result["code"], result["stdout"], result["stderr"]) == (2, "", RETIRED)
    assert result["requests"] == []


def test_the_library_refuses_to_connect_on_b3(report) -> None:
    assert report["dry_run"]["connect"] == f"Refused: {RETIRED.removeprefix('error: ').rstrip()}"


def test_code_deploy_names_the_sdk_it_needs(report) -> None:
    result = report["code_dry_run"]
    assert result["code"] == 2 and result["requests"] == []
    assert result["stderr"] == (
        'error: --code needs azure-ai-projects 2.10 or later; pip install -e ".[deploy]"  '
        "(azure-ai-projects>=2.10,<3)\n"
    )
