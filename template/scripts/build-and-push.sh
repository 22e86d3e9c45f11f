#!/usr/bin/env bash
# Build the agent's image for linux/amd64, push it with a unique tag, and record the pushed
# reference in .image.json, where deploy.py reads it.
#
#   scripts/build-and-push.sh             build in Azure with `az acr build` (no local engine)
#   scripts/build-and-push.sh --local     build here with docker, podman or buildah, then push
#   scripts/build-and-push.sh --dry-run   print what would run; run nothing (works before the
#                                         registry exists, with a marked placeholder for it)
#
# Options:
#   --acr NAME          the registry (default: $ACR_NAME, else docker.registry in azure.yaml)
#   --repository NAME   the image repository (default: docker.image in azure.yaml)
#   --tag TAG           the tag (default: UTC time and git short sha: 20261123T010203Z-1a2b3c4)
#   --engine ENGINE     docker, podman or buildah (default: the first of them that works)
#   --registry HOST     push to this registry instead of an ACR (implies --local; log in to it
#                       yourself); localhost and 127.0.0.1 registries are reached over plain HTTP
#   -- ARGS...          passed on to the build, e.g. -- --build-arg BASE_IMAGE=python:3.12-slim
set -euo pipefail
# shellcheck source=manifest.sh
source "$(dirname "$0")/manifest.sh"

PLACEHOLDER_ACR=REGISTRY-NOT-SET

fail() {
    echo "error: $*" >&2
    exit 1
}

# Print a command the way a shell would take it, then run it (unless --dry-run).
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    ((dry_run)) || "$@"
}

default_tag() {
    local tag sha
    tag="$(date -u +%Y%m%dT%H%M%SZ)"
    if sha="$(git rev-parse --short HEAD 2>/dev/null)"; then
        tag="$tag-$sha"
        # The image holds uncommitted changes: say so in its tag.
        [[ -z "$(git status --porcelain 2>/dev/null)" ]] || tag="$tag-dirty"
    fi
    echo "$tag"
}

detect_engine() {
    local engine
    for engine in docker podman buildah; do
        command -v "$engine" >/dev/null || continue
        # A docker CLI without a running engine cannot build.
        [[ $engine == docker ]] && ! docker info >/dev/null 2>&1 && continue
        echo "$engine"
        return
    done
    if command -v docker >/dev/null; then
        fail "docker is installed but its engine is not running: start Docker Desktop (or dockerd)"
    fi
    fail "no container engine: install Docker, Podman or Buildah, or build in Azure without --local"
}

# Prerequisites of every ACR path: az, a login, the registry. Sets `host`.
check_azure() {
    command -v az >/dev/null \
        || fail "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
    az account show --output none 2>/dev/null || fail "not logged in to Azure: run 'az login'"
    host="$(az acr show --name "$acr" --query loginServer --output tsv 2>/dev/null)" \
        || fail "registry '$acr' not found in this subscription: create it with scripts/setup-acr.sh, or pick the subscription with 'az account set --subscription <id>'"
}

cloud_build() {
    local log
    log="$(mktemp)"
    # shellcheck disable=SC2064 # expand now: the trap runs after `log` is out of scope
    trap "rm -f '$log'" EXIT
    if ! run az acr build --registry "$acr" --image "$repository:$tag" --platform linux/amd64 \
        --source-acr-auth-id "[caller]" ${build_args[@]+"${build_args[@]}"} . 2>&1 | tee "$log"; then
        if grep -q "not permitted" "$log"; then
            fail "ACR Tasks are not permitted on registry '$acr' (a subscription policy): build locally and push instead: scripts/build-and-push.sh --local"
        fi
        fail "az acr build failed (see its output above)"
    fi
    if ((!dry_run)); then
        # Pushed already: without the digest, .image.json still names the tag.
        digest="$(az acr repository show --name "$acr" --image "$repository:$tag" \
            --query digest --output tsv)" || digest=""
    fi
}

registry_login() {
    if [[ -z $acr ]]; then
        return # --registry: its login is the user's
    fi
    if [[ $engine == docker ]]; then
        run az acr login --name "$acr"
    else
        # `az acr login` drives the docker CLI; podman and buildah take its token instead.
        echo "+ az acr login --name $acr --expose-token --query accessToken --output tsv" \
            "| $engine login --username 00000000-0000-0000-0000-000000000000 --password-stdin $host"
        ((dry_run)) || az acr login --name "$acr" --expose-token --query accessToken --output tsv \
            | "$engine" login --username 00000000-0000-0000-0000-000000000000 \
                --password-stdin "$host" >/dev/null
    fi
}

local_build_and_push() {
    local flags=() digest_file
    if [[ $engine == docker ]] && docker buildx version >/dev/null 2>&1; then
        flags=(--provenance=false) # one image manifest, no attestation index
    fi
    run "$engine" build --platform linux/amd64 --tag "$image" ${flags[@]+"${flags[@]}"} \
        ${build_args[@]+"${build_args[@]}"} .
    registry_login
    if [[ $engine == docker ]]; then
        run docker push "$image"
        if ((!dry_run)); then
            digest="$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" \
                | sed -n "s|^$host/$repository@||p" | head -n 1)"
        fi
        return
    fi
    flags=()
    [[ $host =~ ^(localhost|127\.) ]] && flags=(--tls-verify=false)
    digest_file="$(mktemp)"
    # shellcheck disable=SC2064
    trap "rm -f '$digest_file'" EXIT
    if [[ $engine == podman ]]; then
        run podman push ${flags[@]+"${flags[@]}"} --digestfile "$digest_file" "$image"
    else
        run buildah push ${flags[@]+"${flags[@]}"} --digestfile "$digest_file" "$image" \
            "docker://$image"
    fi
    digest="$(cat "$digest_file")"
}

write_image_json() {
    local digest_json=null
    [[ -n $digest ]] && digest_json="\"$digest\""
    cat >.image.json.tmp <<JSON
{
  "image": "$image",
  "digest": $digest_json,
  "tag": "$tag",
  "registry": "$host",
  "repository": "$repository",
  "pushed_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
    mv .image.json.tmp .image.json
}

cd "$(dirname "$0")/.."
[[ -f azure.yaml && -f Dockerfile ]] || fail "azure.yaml or Dockerfile is missing: run this from a generated project"

acr="${ACR_NAME:-}" repository="" tag="" engine="" host="" digest=""
local_build=0 dry_run=0 build_args=()
while (($#)); do
    case "$1" in
        --acr) acr="${2:?--acr needs a registry name}"; shift ;;
        --repository) repository="${2:?--repository needs a name}"; shift ;;
        --tag) tag="${2:?--tag needs a tag}"; shift ;;
        --engine) engine="${2:?--engine needs docker, podman or buildah}"; shift ;;
        --registry) host="${2:?--registry needs a host}"; local_build=1; shift ;;
        --local) local_build=1 ;;
        --dry-run) dry_run=1 ;;
        -h | --help) sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; build_args=("$@"); break ;;
        *) fail "unknown option '$1' (see --help)" ;;
    esac
    shift
done

[[ -n $acr || -n $host ]] || acr="$(manifest_registry acr_name)"
[[ -n $repository ]] || repository="$(manifest_registry image_repository)"
[[ -n $tag ]] || tag="$(default_tag)"
no_registry="no registry set: run 'copier update --trust --defaults -d acr_name=<name>', or pass --acr <name>"
if [[ -n $host ]]; then
    acr="" # another registry: no az at all
elif [[ -z $acr ]]; then
    ((dry_run)) || fail "$no_registry"
    # A preview before the registry exists: a marked stand-in for its name.
    acr=$PLACEHOLDER_ACR
    echo "(dry run: $PLACEHOLDER_ACR stands for the registry; $no_registry)"
fi
[[ -n $repository ]] \
    || fail "no image repository: set docker.image in azure.yaml, or pass --repository"
case "$engine" in
    "" | docker | podman | buildah) ;;
    *) fail "unknown engine '$engine': use docker, podman or buildah" ;;
esac

if [[ -n $acr ]]; then
    if ((dry_run)); then
        host="$(tr '[:upper:]' '[:lower:]' <<<"$acr").azurecr.io"
        echo "(dry run: az, the login and the registry are not checked)"
    else
        check_azure
    fi
fi
image="$host/$repository:$tag"

if ((local_build)); then
    if [[ -z $engine ]]; then
        engine="$(detect_engine)"
    elif ! command -v "$engine" >/dev/null; then
        fail "$engine is not installed: install it, or pick another with --engine"
    fi
    local_build_and_push
else
    cloud_build
fi

if ((dry_run)); then
    echo "(dry run: would record $image in .image.json)"
else
    write_image_json
    echo "pushed $image${digest:+@$digest} (recorded in .image.json)"
fi
