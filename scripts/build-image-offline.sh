#!/usr/bin/env bash
# Build kemu:local with no container registry: a Debian bookworm base made
# with debootstrap and `docker import` (cached as kemu-base:bookworm), and
# kemu installed from wheels built here on the host (containers cannot reach
# PyPI). Needs root, debootstrap, docker, and Python 3.11 on the host (the
# wheels must match the base's Python: bookworm has 3.11).
#
#   scripts/build-image-offline.sh [python]   # python: the host interpreter (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
BASE_IMAGE=kemu-base:bookworm
MIRROR=${KEMU_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d /tmp/kemu-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "kemu: making $BASE_IMAGE with debootstrap (about 40 s)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,procps,iproute2,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >&2
  tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
fi

echo "kemu: building wheels into deploy/wheels" >&2
rm -f deploy/wheels/*.whl
"$PYTHON" -m pip wheel -q --wheel-dir deploy/wheels . >&2

echo "kemu: building kemu:local" >&2
docker build -q --build-arg BASE="$BASE_IMAGE" -t kemu:local . >&2
echo "kemu:local"
