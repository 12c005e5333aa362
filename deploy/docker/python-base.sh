#!/bin/sh
# Shared by every tuneline image (deploy/docker/*.Dockerfile), so their first layers are identical and
# stored once. Works on a base image with Python (python:3.11-slim-bookworm) and on one without
# (a Debian minbase, nvidia/cuda): Python 3 comes from the distribution only when missing.
#   python-base.sh          runtime: python3, CA certificates, user tuneline (uid/gid 10001), /var/lib/tuneline
#   python-base.sh builder  build tools: python3-venv and uv (UV_VERSION) in /opt/uv
set -eu
need=""
command -v python3 >/dev/null 2>&1 || need="python3"
# TLS to Kafka uses the system's CAs when no CA file is set (libs/common/kafka.py).
[ -s /etc/ssl/certs/ca-certificates.crt ] || need="$need ca-certificates"
if [ "${1:-}" = builder ]; then
  python3 -c "import ensurepip, venv" 2>/dev/null || need="$need python3-venv"
fi
if [ -n "$need" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  rm -rf /var/lib/apt/lists/*
fi
if [ "${1:-}" = builder ]; then
  python3 -m venv /opt/uv
  sh /usr/local/lib/tuneline/with-build-ca.sh /opt/uv/bin/pip install -q --no-cache-dir "uv==${UV_VERSION:?}"
  exit 0
fi
# useradd is not in a debootstrap minbase: write the entries directly.
grep -q '^tuneline:' /etc/group || echo "tuneline:x:10001:" >>/etc/group
grep -q '^tuneline:' /etc/passwd \
  || echo "tuneline:x:10001:10001:tuneline:/var/lib/tuneline:/usr/sbin/nologin" >>/etc/passwd
# models/: where compose mounts the shared model store; a fresh volume takes this folder's owner.
mkdir -p /var/lib/tuneline/models /app
chown -R 10001:10001 /var/lib/tuneline
