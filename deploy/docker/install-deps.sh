#!/bin/sh
# Installs the third-party dependencies of one extra of pyproject.toml into /opt/venv with uv, not
# tuneline itself: the images run the source copied to /app, so a code change never reinstalls them.
# Packages already in /opt/venv are kept at their versions (constraints), so an image built on
# tuneline/models adds only what its extra needs beyond the shared models stack.
#   install-deps.sh EXTRA   (run in the folder that holds pyproject.toml)
set -eu
extra=${1:?usage: install-deps.sh EXTRA}
uv=/opt/uv/bin/uv
ca=/usr/local/lib/tuneline/with-build-ca.sh
export UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
[ -x /opt/venv/bin/python ] || "$uv" venv -q --python "$(command -v python3)" /opt/venv
work=$(mktemp -d)
"$uv" pip freeze -q --python /opt/venv/bin/python >"$work/installed.txt"
sh "$ca" "$uv" pip compile -q --no-header --python /opt/venv/bin/python --extra "$extra" \
  -c "$work/installed.txt" -o "$work/requirements.txt" pyproject.toml
sh "$ca" "$uv" pip install -q --python /opt/venv/bin/python -r "$work/requirements.txt"
rm -rf "$work"
