#!/usr/bin/env bash
# Builds the service images (deploy/docker/*.Dockerfile) with the classic builder, one at a time, and
# prints each one's build time and size. `make images` runs it with no arguments: every image.
#   scripts/build-images.sh [SERVICE...]   services: collector sanitizer writer trainer evaluator server
#                                          (models, their shared base, is built first when needed);
#                                          trainer-kuberay (not built by default): the trainer image
#                                          with ray[default], for the chart's KubeRay backend
# BASE_IMAGE: default tuneline/debian-base:bookworm, the Debian base `tuneline dev images` makes with
# no registry (built here first when missing); set python:3.11-slim-bookworm where a registry answers.
# EXTRA_CA_CERTS: PEM text of CAs that builds must trust (a TLS-inspecting proxy); by default the
# certificates in /usr/local/share/ca-certificates. TUNELINE_IMAGE_PREFIX: default tuneline/.
# NO_CACHE=1: build every layer again (a cold build's time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BASE_IMAGE="${BASE_IMAGE:-tuneline/debian-base:bookworm}"
PREFIX="${TUNELINE_IMAGE_PREFIX:-tuneline/}"
LOGS="${TUNELINE_CACHE_DIR:-$HOME/.cache/tuneline}/images/logs"
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ALL=(collector sanitizer writer trainer evaluator server)
MODEL_SERVICES=" trainer evaluator server trainer-kuberay "
EXTRA_IMAGES=" models trainer-kuberay "

requested=("$@")
((${#requested[@]})) || requested=("${ALL[@]}")
images=()
for service in "${requested[@]}"; do
  [[ " ${ALL[*]}$EXTRA_IMAGES" == *" $service "* ]] || { echo "unknown image: $service (one of ${ALL[*]}$EXTRA_IMAGES)" >&2; exit 2; }
  if [[ "$MODEL_SERVICES" == *" $service "* && " ${images[*]} " != *" models "* ]]; then images+=(models); fi
  [[ " ${images[*]} " == *" $service "* ]] || images+=("$service")
done

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  if [[ "$BASE_IMAGE" == tuneline/debian-base:* ]]; then
    echo "==> $BASE_IMAGE is missing: building it (tuneline dev images)"
    "$ROOT/.venv/bin/tuneline" dev images
  fi
fi
if [[ -z "${EXTRA_CA_CERTS:-}" ]] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"
fi
mkdir -p "$LOGS"

size_mb() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f", $1 / 1e6}'; }
printf '%-10s %9s %9s  %s\n' image seconds "size MB" tag
for image in "${images[@]}"; do
  tag="${PREFIX}${image}:${VERSION}"
  args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$VERSION"
        --build-arg "EXTRA_CA_CERTS=${EXTRA_CA_CERTS:-}" --build-arg "MODELS_IMAGE=${PREFIX}models:${VERSION}")
  dockerfile="deploy/docker/$image.Dockerfile"
  if [[ "$image" == trainer-kuberay ]]; then
    dockerfile=deploy/docker/trainer.Dockerfile
    args+=(--build-arg TRAINER_EXTRA=kuberay)
  fi
  start=$(date +%s%N)
  # Classic builder (no BuildKit here); host network: this machine's dockerd has no bridge.
  if ! DOCKER_BUILDKIT=0 docker build ${NO_CACHE:+--no-cache} --network host -f "$dockerfile" "${args[@]}" \
      -t "$tag" -t "${PREFIX}${image}:latest" . >"$LOGS/$image.log" 2>&1; then
    echo "building $tag failed; the end of $LOGS/$image.log:" >&2
    tail -30 "$LOGS/$image.log" >&2
    exit 1
  fi
  tenths=$((($(date +%s%N) - start) / 100000000))
  note=""
  if [[ "$MODEL_SERVICES" == *" $image "* ]]; then
    note="  (of which $(size_mb "${PREFIX}models:${VERSION}") MB shared with ${PREFIX}models)"
  fi
  printf '%-10s %7d.%d %9s  %s%s\n' "$image" $((tenths / 10)) $((tenths % 10)) "$(size_mb "$tag")" "$tag" "$note"
done
