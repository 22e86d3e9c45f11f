# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test container-tools bench bench-frameworks clean

$(BIN)/copier: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Render a demo agent into build/demo, serve it offline, stream two replies with `openai`.
## FRAMEWORK=agent-framework or FRAMEWORK=langgraph renders that framework's agent.py.
demo: $(BIN)/copier
	$(BIN)/python scripts/demo.py --framework $(or $(FRAMEWORK),none)

## The whole test suite (after linting this repository's own code).
test: $(BIN)/copier container-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

## buildah, podman, debootstrap, docker-registry and a local base image (cached in build/).
container-tools:
	bash tests/container/setup.sh

## The generated server against Microsoft's library and the bare-Starlette floor (a few minutes).
## BENCH_TEMPLATE=<checkout> benchmarks another checkout of the template.
bench: $(BIN)/copier
	$(BIN)/python bench/run.py

## Framework overhead per turn: each agent_framework variant against the plain model agent.
bench-frameworks: $(BIN)/copier
	$(BIN)/python bench/frameworks.py

clean:
	rm -rf $(VENV) build
