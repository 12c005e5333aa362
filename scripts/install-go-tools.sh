#!/usr/bin/env bash
# Idempotent build of the Go tools the chart and workflow checks need (helm, actionlint), from the Go
# module proxy: neither is packaged for Debian here. Everything Go writes (binaries, module and build
# caches) stays under $CACHE/tools/go, so a second run reuses it and skips a tool already at its version.
set -euo pipefail

CACHE="${TUNELINE_CACHE_DIR:-$HOME/.cache/tuneline}"
GO_ROOT="$CACHE/tools/go"
export GOBIN="$GO_ROOT/bin"
export GOPATH="$GO_ROOT/path"
export GOMODCACHE="$GO_ROOT/mod"
export GOCACHE="$GO_ROOT/build-cache"
# A toolchain directive in a module must not make go download another toolchain behind our back.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# Module paths and versions (kept in one place; tests/deploy/test_chart.py finds helm in $GOBIN).
TOOLS=(
  "helm.sh/helm/v4/cmd/helm@v4.3.2"
  "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
)

if ! command -v go >/dev/null 2>&1; then
  [[ -x /usr/local/go/bin/go ]] || { echo "Go is not installed (need Go 1.26: /usr/local/go/bin/go)" >&2; exit 1; }
  PATH="/usr/local/go/bin:$PATH"
fi
mkdir -p "$GOBIN"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The version a binary was built from, read from the build info go embeds in it ("" when absent).
built_version() {
  local bin="$1" pkg="$2"
  [[ -x "$bin" ]] || return 0
  go version -m "$bin" 2>/dev/null | awk -v mod="${pkg%%/cmd/*}" '$1 == "mod" && $2 == mod {print $3}'
}

for spec in "${TOOLS[@]}"; do
  pkg="${spec%@*}"
  want="${spec##*@}"
  name="${pkg##*/}"
  have="$(built_version "$GOBIN/$name" "$pkg")"
  if [[ "$have" == "$want" ]]; then
    continue
  fi
  step "building $name $want with $(go env GOVERSION) into $GOBIN${have:+ (had $have)}"
  start=$SECONDS
  go install "$spec"
  step "$name $want built in $((SECONDS - start)) s"
done
