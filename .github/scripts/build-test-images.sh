#!/usr/bin/env bash
# CI only (.github/workflows/ci.yml): builds the test harness's images (`tuneline dev images`: a
# debootstrap base, Kafka, dynalite) on a hosted runner the way the Debian bookworm build machines do.
# The runner is Ubuntu: its own debootstrap base would be Ubuntu main only, where nodejs (dynalite) is
# missing. So the build runs in a bookworm container, as root (debootstrap needs it), against the
# runner's Docker engine, from the Kafka jars and dynalite package `make setup` put in the cache. The
# cache is mounted at the same path, so the images' input digests match what the runner computes later.
#
# Knobs: BOOKWORM_IMAGE (python:3.11-bookworm); DOCKER_CLI_VERSION, the static Docker client fetched in
# the container (Debian's 20.10 speaks an API too old for current engines); DOCKER_CLI, a client binary
# to mount instead (no download); CA_BUNDLE, a CA file pip must trust (a TLS-inspecting proxy);
# UNPRIVILEGED=1 where the engine refuses --privileged and the base image is already built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TUNELINE_CACHE_DIR:-$HOME/.cache/tuneline}"
IMAGE="${BOOKWORM_IMAGE:-python:3.11-bookworm}"
DOCKER_CLI_VERSION="${DOCKER_CLI_VERSION:-27.5.1}"
mkdir -p "$CACHE"

extra=(--privileged)
[[ "${UNPRIVILEGED:-0}" == 1 ]] && extra=()
get_cli="curl -fsSL https://download.docker.com/linux/static/stable/x86_64/docker-$DOCKER_CLI_VERSION.tgz \
  | tar -xz -C /usr/local/bin --strip-components=1 docker/docker"
if [[ -n "${DOCKER_CLI:-}" ]]; then
  extra+=(-v "$DOCKER_CLI:/usr/local/bin/docker:ro")
  get_cli=true
fi
if [[ -n "${CA_BUNDLE:-}" ]]; then
  extra+=(-v "$CA_BUNDLE:/tmp/ca-bundle.crt:ro" -e PIP_CERT=/tmp/ca-bundle.crt)
fi

start=$SECONDS
docker run --rm --network host \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$ROOT:/src:ro" -v "$CACHE:$CACHE" -e "TUNELINE_CACHE_DIR=$CACHE" \
  "${extra[@]}" "$IMAGE" bash -euo pipefail -c "
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    $get_cli
    mkdir /tmp/src
    cp -r /src/pyproject.toml /src/README.md /src/libs /src/services /src/examples /tmp/src
    python -m venv /tmp/venv
    /tmp/venv/bin/pip install -q /tmp/src
    /tmp/venv/bin/tuneline dev images"
# The container wrote into the cache as root: hand it back (actions/cache saves it as the runner user).
if [[ $(id -u) -ne 0 ]]; then
  sudo chown -R "$(id -u):$(id -g)" "$CACHE"
fi
docker image ls --filter "reference=tuneline/*"
echo "test images ready in $((SECONDS - start)) s"
