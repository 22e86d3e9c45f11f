"""The generated project's GitHub workflows, Dependabot and pre-commit configs, offline.

Each workflow validates against SchemaStore's GitHub workflow schema (as vendored in the
check-jsonschema package) and passes zizmor's audits (`--offline`) with no findings, even
pedantic ones; the template update's shell steps run against a real git remote and a
stand-in `gh`.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import BIN, render, run
from ruamel.yaml import YAML

SCHEMAS = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
WORKFLOWS = ("ci.yml", "deploy.yml", "template-update.yml")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+(\.\d+)*$")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("workflows") / "proj", {"python_version": "3.13"})


def load(path: Path) -> Any:
    """YAML 1.2, as GitHub reads it (`on:` stays a string key, unlike PyYAML's YAML 1.1)."""
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def workflow(project: Path, name: str) -> dict[str, Any]:
    return load(project / ".github" / "workflows" / name)


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona", "pedantic", "--no-progress", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_project_has_exactly_these_workflows(project: Path) -> None:
    assert sorted(p.name for p in (project / ".github" / "workflows").iterdir()) == sorted(WORKFLOWS)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_validates_against_the_github_workflow_schema(project: Path, name: str) -> None:
    schema = json.loads(SCHEMAS.joinpath("github-workflows.json").read_text(encoding="utf-8"))
    jsonschema.validate(workflow(project, name), schema)


def test_dependabot_updates_pip_and_actions_and_validates(project: Path) -> None:
    config = load(project / ".github" / "dependabot.yml")
    schema = json.loads(SCHEMAS.joinpath("dependabot.json").read_text(encoding="utf-8"))
    jsonschema.validate(config, schema)
    assert {update["package-ecosystem"] for update in config["updates"]} == {"pip", "github-actions"}


def test_a_schema_violation_is_caught(project: Path) -> None:
    schema = json.loads(SCHEMAS.joinpath("github-workflows.json").read_text(encoding="utf-8"))
    broken = workflow(project, "ci.yml")
    broken["jobs"]["test"]["permissions"] = {"contents": "admin"}  # read, write or none
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_zizmor_finds_nothing(project: Path) -> None:
    result = zizmor(project / ".github")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_would_catch_an_unpinned_action_and_an_injection(project: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(project / ".github", tmp_path / ".github")
    ci = copy / "workflows" / "ci.yml"
    text = ci.read_text(encoding="utf-8")
    text = re.sub(r"actions/checkout@[0-9a-f]{40} # v[\d.]+", "actions/checkout@v7", text, count=1)
    text = text.replace("run: ruff format --check .", "run: echo ${{ github.event.pull_request.title }}")
    ci.write_text(text, encoding="utf-8")
    result = zizmor(copy)
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout and "template-injection" in result.stdout


def test_every_action_is_pinned_by_commit_sha_with_its_version(project: Path) -> None:
    shas: dict[str, str] = {}
    for name in WORKFLOWS:
        text = (project / ".github" / "workflows" / name).read_text(encoding="utf-8")
        for uses in re.findall(r"uses: (.+)$", text, re.MULTILINE):
            assert PINNED.match(uses), f"{name}: {uses!r} is not `owner/repo@<40-hex sha> # vX`"
            action, sha = uses.split(" ")[0].split("@")
            assert shas.setdefault(action, sha) == sha, f"{action} is pinned to two commits"
    assert {"actions/checkout", "actions/setup-python", "azure/login"} <= shas.keys()


def test_no_workflow_reads_a_secret(project: Path) -> None:
    for name in WORKFLOWS:
        assert "secrets." not in (project / ".github" / "workflows" / name).read_text(encoding="utf-8")


def test_pull_requests_are_linted_tested_and_audited(project: Path) -> None:
    ci = workflow(project, "ci.yml")
    assert "pull_request" in ci["on"] and "pull_request_target" not in ci["on"]
    commands = [step.get("run", "") for job in ci["jobs"].values() for step in job["steps"]]
    for command in ("ruff check", "ruff format --check", "pytest", "python scripts/audit.py"):
        assert any(command in line for line in commands), command
    assert any("--require-hashes" in line and "requirements-dev.lock" in line for line in commands)
    versions = {
        step["with"]["python-version"]
        for job in ci["jobs"].values()
        for step in job["steps"]
        if "setup-python" in step.get("uses", "")
    }
    assert versions == {"3.13"}  # the answer, as in the image


def test_deploy_runs_on_tags_or_by_hand_with_oidc_in_a_protected_environment(project: Path) -> None:
    deploy = workflow(project, "deploy.yml")
    assert deploy["on"]["push"] == {"tags": ["v*"]} and "workflow_dispatch" in deploy["on"]
    assert deploy["permissions"] == {}
    (job,) = deploy["jobs"].values()
    assert job["environment"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (login,) = [step for step in job["steps"] if step.get("uses", "").startswith("azure/login@")]
    assert login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
    after = job["steps"][job["steps"].index(login) + 1 :]
    by_source = {
        source: [step["run"] for step in after if step["if"] == f"vars.DEPLOY_FROM {op} 'image'"]
        for source, op in (("code", "!="), ("image", "=="))
    }
    assert by_source == {
        "code": ["python deploy.py deploy --code"],
        "image": ["scripts/build-and-push.sh", "python deploy.py deploy"],
    }


def test_template_update_runs_copier_weekly(project: Path) -> None:
    update = workflow(project, "template-update.yml")
    assert update["on"]["schedule"] and "workflow_dispatch" in update["on"]
    (job,) = update["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    assert "copier update --trust --defaults --skip-answered" in commands


def shell_step(project: Path, name: str) -> str:
    (job,) = workflow(project, "template-update.yml")["jobs"].values()
    (step,) = [step for step in job["steps"] if step.get("name") == name]
    return step["run"]


@pytest.fixture
def clone(project: Path, tmp_path: Path) -> Path:
    """The project as a clone of a bare `origin`, with a stand-in `gh` on PATH."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    shutil.copytree(project, work)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    run(["git", "init", "--quiet", "--bare", str(origin)], cwd=tmp_path)
    run(["git", "init", "--quiet", "-b", "main"], cwd=work)
    run(["git", "add", "--all"], cwd=work)
    run([*git, "commit", "--quiet", "-m", "init"], cwd=work)
    run(["git", "remote", "add", "origin", str(origin)], cwd=work)
    run(["git", "push", "--quiet", "origin", "main"], cwd=work)
    run(["git", "config", "user.name", "t"], cwd=work)
    run(["git", "config", "user.email", "t@example.com"], cwd=work)
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "gh $*" >> "$GH_LOG"\n', encoding="utf-8")
    fake.chmod(0o755)
    return work


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{cwd.parent / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path, "GH_LOG": str(cwd.parent / "gh.log"), "BRANCH": "template-update", **env},
        check=False,
    )


def test_template_update_fails_on_conflict_markers_and_rej_files(project: Path, clone: Path) -> None:
    check = shell_step(project, "Fail on conflicts left to merge by hand")
    assert bash(check, clone).returncode == 0
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n")
    result = bash(check, clone)
    assert result.returncode == 1 and "conflicts in: README.md" in result.stdout
    readme.write_text(readme.read_text().split("<<<<<<<")[0])
    (clone / "Dockerfile.rej").write_text("@@ -1 +1 @@\n")
    result = bash(check, clone)
    assert result.returncode == 1 and "Dockerfile.rej" in result.stdout


def test_template_update_pushes_a_branch_and_opens_one_pull_request(project: Path, clone: Path) -> None:
    publish = shell_step(project, "Open a pull request")
    result = bash(publish, clone)
    assert result.returncode == 0 and "up to date" in result.stdout
    assert not (clone.parent / "gh.log").exists()

    (clone / "README.md").write_text("changed by the template\n")
    result = bash(publish, clone)
    assert result.returncode == 0, result.stderr
    pushed = run(["git", "log", "-1", "--format=%s", "template-update"], cwd=clone.parent / "origin.git")
    assert pushed.stdout.startswith("Update from the template (")
    log = (clone.parent / "gh.log").read_text().splitlines()
    assert log[0] == "gh auth setup-git"
    assert log[1].startswith("gh pr list --head template-update --state open")
    assert log[2].startswith("gh pr create --head template-update --title Update from the template (")


def test_pre_commit_runs_the_locked_ruff(project: Path) -> None:
    config = load(project / ".pre-commit-config.yaml")
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    assert [(hook["id"], hook["entry"].split()[:2]) for hook in repo["hooks"]] == [
        ("ruff-check", ["ruff", "check"]),
        ("ruff-format", ["ruff", "format"]),
    ]
    assert "ruff==" in (project / "requirements-dev.lock").read_text(encoding="utf-8")
