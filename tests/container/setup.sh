#!/usr/bin/env bash
# Install the container tools the container tests use and make their base image, once.
#
# A fresh CI machine has no Docker engine and cannot pull base images, so:
#   - buildah builds and runs images (vfs storage, chroot isolation: no daemon, no kernel overlay);
#   - podman imports the base image made by debootstrap (bookworm, python3 + venv);
#   - docker-registry (Debian's distribution registry) is the real registry pushes go to.
# Images live in build/container/storage (vfs driver: works on any file system), described by
# build/container/storage.conf; the tests point CONTAINERS_STORAGE_CONF at it.
# Idempotent: what is already there is kept. Run as root (it uses apt-get).
#
# Usage: bash tests/container/setup.sh
set -euo pipefail

BASE_IMAGE=localhost/pybase:bookworm
CACHE="$(cd "$(dirname "$0")/../.." && pwd)/build/container"
ROOTFS_TAR="$CACHE/pybase-bookworm.tar"
export CONTAINERS_STORAGE_CONF="$CACHE/storage.conf"

packages=(buildah podman debootstrap docker-registry)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "note: ${missing[*]} cannot be installed here (no apt-get); the container tests are skipped"
        exit 0
    fi
    if [[ $(id -u) != 0 ]]; then
        echo "error: installing ${missing[*]} needs root: run 'sudo bash $0'" >&2
        exit 1
    fi
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
# The package starts a registry on :5000 as a service; the tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

mkdir -p "$CACHE"
printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' \
    "$CACHE/run" "$CACHE/storage" >"$CONTAINERS_STORAGE_CONF"

if buildah images --quiet "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "base image $BASE_IMAGE is ready"
    exit 0
fi

if [[ ! -s $ROOTFS_TAR ]]; then
    rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    echo "debootstrap bookworm into $rootfs (a few minutes)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" >"$CACHE/debootstrap.log" 2>&1 \
        || { echo "error: debootstrap failed; see $CACHE/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    chmod 755 "$rootfs"  # mktemp made it 0700: the image root must be traversable by non-root users
    tar -C "$rootfs" -cf "$ROOTFS_TAR.partial" . && mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
fi
podman import --quiet "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null
echo "base image $BASE_IMAGE is ready"
