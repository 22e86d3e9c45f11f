"""A rendered project's image, built, run and pushed for real.

The tests marked `container` need buildah, podman, debootstrap and docker-registry and the base
image made by `bash tests/container/setup.sh` (which .ci/run calls). They are skipped only where
those tools cannot be installed (not Linux, no apt-get); anywhere else a missing tool fails with
the command to run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container import tools
from helpers import install, render, run

PACKAGE = "box_agent"
REPOSITORY = "shop/box-agent"
container = pytest.mark.container
build_seconds: list[float] = []  # of the pushed fixture, printed by the test that checks the push


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    answers = {"agent_name": "box-agent", "image_repository": REPOSITORY, "python_version": "3.11"}
    return render(tmp_path_factory.mktemp("container") / "box-agent", answers)


@pytest.fixture(scope="module")
def ready() -> None:
    """The container tools: skip where they cannot be installed, fail where they are not."""
    if problem := tools.not_ready():
        if reason := tools.unavailable():
            pytest.skip(f"{reason}: {problem}")
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def registry(ready: None) -> Iterator[str]:
    """A real registry on 127.0.0.1: host:port."""
    with tools.registry() as host:
        yield host


@pytest.fixture(scope="module")
def pushed(registry: str, project: Path) -> Iterator[dict[str, Any]]:
    """The generated script's local mode: buildah builds the Dockerfile on the local base image
    and pushes to the registry. Yields what it recorded in .image.json."""
    tag = f"t{uuid.uuid4().hex[:8]}"
    script = ["bash", "scripts/build-and-push.sh", "--registry", registry, "--engine", "buildah"]
    start = time.monotonic()
    try:
        run([*script, "--tag", tag, "--", *tools.build_flags()], cwd=project, env=tools.ENV)
        build_seconds.append(time.monotonic() - start)
        yield json.loads((project / ".image.json").read_text(encoding="utf-8"))
    finally:
        tools.buildah("rmi", f"{registry}/{REPOSITORY}:{tag}", check=False)


@pytest.fixture(scope="module")
def image(pushed: dict[str, Any]) -> str:
    """The image the script built, as it is in local storage."""
    return pushed["image"]


@pytest.fixture(scope="module")
def box(image: str) -> Iterator[str]:
    """A working container of the image (one: each is a full copy on vfs storage)."""
    with tools.working_container(image) as name:
        yield name


def inspect(image: str) -> dict[str, Any]:
    return json.loads(tools.buildah("inspect", "--type", "image", image).stdout)


def registry_get(url: str, accept: str = "*/*") -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), dict(response.headers)


MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


@container
def test_build_script_pushes_to_the_registry_and_records_the_digest(
    pushed: dict[str, Any], registry: str, image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = pushed["tag"]
    assert pushed["image"] == f"{registry}/{REPOSITORY}:{tag}"
    assert (pushed["registry"], pushed["repository"]) == (registry, REPOSITORY)
    body, headers = registry_get(f"http://{registry}/v2/{REPOSITORY}/manifests/{tag}", MANIFEST_TYPES)
    assert pushed["digest"] == headers["Docker-Content-Digest"]
    manifest = json.loads(body)
    config, _ = registry_get(f"http://{registry}/v2/{REPOSITORY}/blobs/{manifest['config']['digest']}")
    assert (json.loads(config)["os"], json.loads(config)["architecture"]) == ("linux", "amd64")
    compressed = sum(layer["size"] for layer in manifest["layers"]) / 1e6
    size = tools.buildah("images", "--format", "{{.Size}}", image).stdout.strip()
    with capsys.disabled():
        print(f"\n  build and push: {build_seconds[0]:.0f} s")
        print(f"  image size: {size} unpacked, {compressed:.0f} MB pushed (compressed layers)")


@container
def test_deploy_reads_the_pushed_digest_and_refuses_a_registry_on_this_machine(
    pushed: dict[str, Any], project: Path
) -> None:
    install(project)  # deploy.py's SDK
    env = {**os.environ, "FOUNDRY_PROJECT_ENDPOINT": "https://acct.services.ai.azure.com/api/projects/box"}
    command = [sys.executable, "deploy.py", "deploy", "--dry-run"]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    by_digest = f"{pushed['registry']}/{pushed['repository']}@{pushed['digest']}"
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith(
        f"error: image '{by_digest}': Foundry pulls from Azure and cannot reach {pushed['registry']} "
    )


@container
def test_image_is_linux_amd64_non_root_serving_port_8088(image: str) -> None:
    details = inspect(image)
    config = details["OCIv1"]["config"]
    assert (details["OCIv1"]["os"], details["OCIv1"]["architecture"]) == ("linux", "amd64")
    assert config["User"] == "agent"
    assert "8088/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["python", "-m", PACKAGE]  # exec form: the server is PID 1
    assert "PYTHONUNBUFFERED=1" in config["Env"]
    assert not (details.get("Docker") or {}).get("config", {}).get("Healthcheck")


@container
def test_image_runs_as_a_user_who_can_write_its_home(box: str) -> None:
    probe = (
        "import os, pathlib; "
        "[pathlib.Path(home, 'probe').write_text('x') for home in (os.environ['HOME'],"
        " '/home/session')]; print(os.getuid())"
    )
    result = tools.run_in(box, ["python", "-c", probe])
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) != 0
    # The base has python3 only: `python` is the virtual environment's.
    result = tools.run_in(box, ["sh", "-c", "command -v python; test ! -e /usr/bin/python"])
    assert result.returncode == 0 and result.stdout.strip() == "/opt/venv/bin/python"


@container
def test_server_in_the_image_streams_and_exits_0_on_sigterm(
    box: str, image: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(project)  # the openai client
    import openai

    port = tools.free_port()
    url = f"http://127.0.0.1:{port}"
    # The platform's environment: HOME=/home/session; PORT and HOST for this machine.
    env = {"PORT": str(port), "HOST": "127.0.0.1", "HOME": "/home/session"}
    tools.buildah("config", *[f"--env={k}={v}" for k, v in env.items()], box)
    command = inspect(image)["OCIv1"]["config"]["Cmd"]
    runner = subprocess.Popen(
        ["buildah", "run", *tools.RUN_FLAGS, box, "--", *command],
        env=tools.ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        cold_start = tools.wait_for(f"{url}/readiness", runner, 60)
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with client.responses.create(model="m", input="Hello", stream=True) as stream:
            events = [event.type for event in stream]
        assert events[0] == "response.created" and events[-1] == "response.completed"
        assert "response.output_text.delta" in events

        server = tools.container_process(runner, "/opt/venv/bin/python")
        assert tools.uid_of(server) != 0
        terminated = time.monotonic()
        os.kill(server, signal.SIGTERM)
        output, _ = runner.communicate(timeout=40)
        stopped = time.monotonic() - terminated
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    with capsys.disabled():
        print(f"\n  container cold start to /readiness: {cold_start:.2f} s (buildah run included)")
        print(f"  exit after SIGTERM: {stopped:.2f} s, status {runner.returncode}")
    # buildah run reports a process killed by a signal as "exited on <signal>" and exits 1.
    how = "died of SIGTERM" if b"exited on terminated" in output else f"exited {runner.returncode}"
    assert runner.returncode == 0, f"the server {how} instead of exiting 0:\n{output.decode()}"


def test_cloud_build_dry_run_prints_an_amd64_acr_build(tmp_path: Path) -> None:
    project = render(tmp_path / "proj", {"agent_name": "box-agent", "acr_name": "boxregistry"})
    result = run(["bash", "scripts/build-and-push.sh", "--dry-run"], cwd=project)
    assert "+ az acr build --registry boxregistry --image box-agent:" in result.stdout
    assert "--platform linux/amd64" in result.stdout
    assert "would record boxregistry.azurecr.io/box-agent:" in result.stdout

    endpoint = "https://acct.services.ai.azure.com/api/projects/box"
    result = run(["bash", "scripts/setup-acr.sh", "--dry-run", "--project-endpoint", endpoint], cwd=project)
    for change in (
        "+ az acr create --name boxregistry",
        "+ az acr config authentication-as-arm update --registry boxregistry --status enabled",
        "+ az role assignment create",
    ):
        assert change in result.stdout
    assert not (project / ".image.json").exists()
