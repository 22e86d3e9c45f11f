"""scripts/build-and-push.sh and scripts/setup-acr.sh, driven against a stand-in `az`.

Each test copies the scripts into a scratch project and runs them with a PATH that holds only
the tools they use, so what is installed on this machine does not change the outcome.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
# What the scripts run besides az (bash runs them; git only where a project has it).
TOOLS = [
    "awk",
    "cat",
    "date",
    "dirname",
    "git",
    "grep",
    "head",
    "mktemp",
    "mv",
    "rm",
    "sed",
    "tee",
    "tr",
]

# Answers like the Azure CLI does; $FAKE_AZ lists what is different from a ready setup.
FAKE_AZ = r"""#!/bin/sh
echo "az $*" >> "$FAKE_AZ_LOG"
has() { case " $FAKE_AZ " in *" $1 "*) return 0 ;; esac; return 1; }
case "$*" in
"account show"*)
    has logged-out && { echo "ERROR: Please run 'az login' to setup account." >&2; exit 1; } ;;
"acr show"*)
    has no-registry && { echo "ERROR: The resource 'myacr' could not be found." >&2; exit 1; }
    case "$*" in
    *loginServer*) echo myacr.azurecr.io ;;
    *roleAssignmentMode*) echo LegacyRegistryPermissions ;;
    *) echo /subscriptions/s/providers/Microsoft.ContainerRegistry/registries/acr ;;
    esac ;;
"acr build"*)
    if has tasks-blocked; then
        echo "(TasksOperationsNotAllowed) ACR Tasks requests for the registry myacr and" \
            "0000 are not permitted. Please file an Azure support request." >&2
        exit 1
    fi
    echo "Run ID: ca1 was successful after 42s" ;;
"acr repository show"*) echo sha256:0123456789abcdef ;;
"acr config authentication-as-arm show"*)
    if has arm-enabled; then echo enabled; else echo disabled; fi ;;
"resource list"*) echo /subscriptions/s/providers/Microsoft.CognitiveServices/accounts/acct ;;
"resource show"*) echo 11111111-2222-3333-4444-555555555555 ;;
"role assignment list"*) if has role-assigned; then echo 1; else echo 0; fi ;;
esac
exit 0
"""

REGISTRY_YAML = (
    "services:\n  my-agent:\n    host: azure.ai.agent\n    docker:\n"
    "      remoteBuild: true\n      image: shop/my-agent\n      registry: {acr}\n    kind: hosted\n"
)
ENDPOINT = "https://acct.services.ai.azure.com/api/projects/proj"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the project's scripts, with its own azure.yaml and Dockerfile."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "scripts", root / "scripts")
    (root / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "azure.yaml").write_text(REGISTRY_YAML.format(acr="myacr.azurecr.io"), encoding="utf-8")
    return root


def script(
    project: Path, name: str, *args: str, az: str | None = ""
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run scripts/<name> with only TOOLS (and the stand-in az unless az is None) on PATH.

    Returns the result and the az calls it made.
    """
    if sys.platform == "win32" or not shutil.which("bash"):
        pytest.skip("the bash scripts need bash (on Windows: WSL or Git Bash)")
    bin_dir = project.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        if (found := shutil.which(tool)) and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    log = project.parent / "az.log"
    log.write_text("", encoding="utf-8")
    fake = bin_dir / "az"
    fake.unlink(missing_ok=True)
    if az is not None:
        fake.write_text(FAKE_AZ, encoding="utf-8")
        fake.chmod(0o755)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(project.parent),
        "FAKE_AZ": az or "",
        "FAKE_AZ_LOG": str(log),
    }
    result = subprocess.run(
        [shutil.which("bash") or "bash", str(project / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return result, log.read_text(encoding="utf-8").splitlines()


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The script failed with exactly one line on stderr; return it."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_build_without_a_registry_says_how_to_set_one(project: Path) -> None:
    (project / "azure.yaml").write_text(REGISTRY_YAML.format(acr="''"), encoding="utf-8")
    result, calls = script(project, "build-and-push.sh")
    assert "copier update --trust --defaults -d acr_name=<name>" in one_line_error(result)
    assert calls == []


def test_build_without_az_says_how_to_install_it(project: Path) -> None:
    result, _ = script(project, "build-and-push.sh", az=None)
    assert "az) is not installed" in one_line_error(result)


def test_build_when_logged_out_says_az_login(project: Path) -> None:
    result, _ = script(project, "build-and-push.sh", az="logged-out")
    assert "run 'az login'" in one_line_error(result)


def test_build_with_a_missing_registry_points_to_the_setup_script(
    project: Path,
) -> None:
    result, _ = script(project, "build-and-push.sh", az="no-registry")
    assert "scripts/setup-acr.sh" in one_line_error(result)


def test_local_build_without_an_engine_says_what_to_install(project: Path) -> None:
    result, _ = script(project, "build-and-push.sh", "--local")
    assert "install Docker, Podman or Buildah" in one_line_error(result)


def test_cloud_build_pushes_a_unique_tag_and_records_it(project: Path) -> None:
    result, calls = script(project, "build-and-push.sh", "--tag", "20261123T010203Z-1a2b3c4")
    assert result.returncode == 0, result.stderr
    build = next(call for call in calls if call.startswith("az acr build"))
    assert "--registry myacr --image shop/my-agent:20261123T010203Z-1a2b3c4" in build
    assert "--platform linux/amd64" in build
    recorded = json.loads((project / ".image.json").read_text(encoding="utf-8"))
    assert recorded["image"] == "myacr.azurecr.io/shop/my-agent:20261123T010203Z-1a2b3c4"
    assert recorded["digest"] == "sha256:0123456789abcdef"
    assert recorded["registry"] == "myacr.azurecr.io"
    assert recorded["repository"] == "shop/my-agent"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", recorded["pushed_at"])


def test_blocked_acr_tasks_are_named_and_the_local_path_offered(project: Path) -> None:
    result, _ = script(project, "build-and-push.sh", az="tasks-blocked")
    line = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0
    assert "ACR Tasks are not permitted" in line and "scripts/build-and-push.sh --local" in line
    assert not (project / ".image.json").exists()


def test_dry_run_prints_the_cloud_build_and_runs_nothing(project: Path) -> None:
    result, calls = script(project, "build-and-push.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert calls == []
    assert "+ az acr build --registry myacr --image shop/my-agent:" in result.stdout
    assert "would record myacr.azurecr.io/shop/my-agent:" in result.stdout
    assert not (project / ".image.json").exists()


def test_dry_run_before_a_registry_exists_previews_with_a_marked_placeholder(
    project: Path,
) -> None:
    (project / "azure.yaml").write_text(REGISTRY_YAML.format(acr="''"), encoding="utf-8")
    result, calls = script(project, "build-and-push.sh", "--dry-run", "--tag", "t1")
    assert result.returncode == 0, result.stderr
    assert calls == []
    assert "(dry run: REGISTRY-NOT-SET stands for the registry; no registry set: run " in (
        result.stdout
    )
    assert "+ az acr build --registry REGISTRY-NOT-SET --image shop/my-agent:t1" in result.stdout
    assert "would record registry-not-set.azurecr.io/shop/my-agent:t1" in result.stdout
    assert not (project / ".image.json").exists()


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_default_tag_is_utc_time_and_git_short_sha(project: Path) -> None:
    git = [
        "git",
        "-C",
        str(project),
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
    ]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result, _ = script(project, "build-and-push.sh", "--dry-run")
    tag = re.search(r"--image shop/my-agent:(\S+)", result.stdout)
    assert tag and re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{sha}", tag[1]), result.stdout


def test_setup_dry_run_prints_each_change_and_runs_nothing(project: Path) -> None:
    result, calls = script(project, "setup-acr.sh", "--project-endpoint", ENDPOINT, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert calls == []
    assert "+ az acr create --name myacr" in result.stdout
    assert "+ az acr config authentication-as-arm update --registry myacr --status enabled" in (
        result.stdout
    )
    assert "+ az role assignment create" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("no role for the agent itself: ")


def test_setup_enables_auth_as_arm_and_grants_the_pull_role(project: Path) -> None:
    result, calls = script(project, "setup-acr.sh", "--project-endpoint", ENDPOINT)
    assert result.returncode == 0, result.stderr
    assert any("authentication-as-arm update --registry myacr --status enabled" in c for c in calls)
    grant = next(call for call in calls if call.startswith("az role assignment create"))
    assert "--assignee-object-id 11111111-2222-3333-4444-555555555555" in grant
    assert "--role AcrPull" in grant
    assert "/registries/acr" in grant
    assert result.stdout.splitlines()[-1].startswith("no role for the agent itself: ")


def test_setup_changes_nothing_when_already_done(project: Path) -> None:
    result, calls = script(
        project,
        "setup-acr.sh",
        "--project-endpoint",
        ENDPOINT,
        az="arm-enabled role-assigned",
    )
    assert result.returncode == 0, result.stderr
    changing = re.compile(r"az (acr create|acr config .* update|role assignment create)")
    assert [call for call in calls if changing.match(call)] == []
    assert "registry myacr exists" in result.stdout


def test_setup_of_a_missing_registry_asks_for_its_resource_group(project: Path) -> None:
    result, _ = script(project, "setup-acr.sh", "--project-endpoint", ENDPOINT, az="no-registry")
    assert "pass --resource-group" in one_line_error(result)


def test_setup_without_a_project_endpoint_says_how_to_give_it(project: Path) -> None:
    result, _ = script(project, "setup-acr.sh")
    assert "--project-endpoint https://" in one_line_error(result)


@pytest.mark.skipif(sys.platform == "win32", reason="no executable bit on Windows")
def test_scripts_are_executable() -> None:
    for name in ("build-and-push.sh", "setup-acr.sh"):
        assert os.access(PROJECT / "scripts" / name, os.X_OK), name


@pytest.mark.skipif(not shutil.which("pwsh"), reason="needs PowerShell 7 (pwsh)")
def test_powershell_twin_dry_run_prints_the_same_cloud_build(project: Path) -> None:
    result = subprocess.run(
        [
            shutil.which("pwsh") or "pwsh",
            "-NoProfile",
            "-File",
            str(project / "scripts" / "build-and-push.ps1"),
            "-DryRun",
            "-Tag",
            "t1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "+ az acr build --registry myacr --image shop/my-agent:t1" in result.stdout
    assert "--platform linux/amd64" in result.stdout
    assert "would record myacr.azurecr.io/shop/my-agent:t1" in result.stdout


@pytest.mark.skipif(not shutil.which("pwsh"), reason="needs PowerShell 7 (pwsh)")
def test_powershell_twin_dry_run_previews_before_a_registry_exists(project: Path) -> None:
    (project / "azure.yaml").write_text(REGISTRY_YAML.format(acr="''"), encoding="utf-8")
    result = subprocess.run(
        [
            shutil.which("pwsh") or "pwsh",
            "-NoProfile",
            "-File",
            str(project / "scripts" / "build-and-push.ps1"),
            "-DryRun",
            "-Tag",
            "t1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ACR_NAME": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "REGISTRY-NOT-SET stands for the registry" in result.stdout
    assert "+ az acr build --registry REGISTRY-NOT-SET --image shop/my-agent:t1" in result.stdout
    assert "would record registry-not-set.azurecr.io/shop/my-agent:t1" in result.stdout


@pytest.mark.skipif(not shutil.which("pwsh"), reason="needs PowerShell 7 (pwsh)")
def test_powershell_twin_of_setup_dry_run_prints_each_change(project: Path) -> None:
    result = subprocess.run(
        [
            shutil.which("pwsh") or "pwsh",
            "-NoProfile",
            "-File",
            str(project / "scripts" / "setup-acr.ps1"),
            "-DryRun",
            "-ProjectEndpoint",
            ENDPOINT,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "+ az acr create --name myacr" in result.stdout
    assert "+ az acr config authentication-as-arm update --registry myacr --status enabled" in (
        result.stdout
    )
    assert "+ az role assignment create" in result.stdout


def test_help_lists_the_options(project: Path) -> None:
    for name, option in (("build-and-push.sh", "--local"), ("setup-acr.sh", "--resource-group")):
        result, calls = script(project, name, "--help")
        assert result.returncode == 0 and option in result.stdout and calls == [], result.stderr
