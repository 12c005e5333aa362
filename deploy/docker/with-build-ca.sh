#!/bin/sh
# Runs a command (pip, uv) with the extra CA certificates given as the EXTRA_CA_CERTS build argument
# (PEM text) trusted besides the system's: for builds behind a TLS-inspecting proxy. The bundle lives
# only while the command runs, so no image layer keeps it. Without EXTRA_CA_CERTS, runs the command.
set -eu
if [ -z "${EXTRA_CA_CERTS:-}" ]; then exec "$@"; fi
bundle=$(mktemp)
trap 'rm -f "$bundle"' EXIT
for system in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -s "$system" ]; then cat "$system" >>"$bundle"; break; fi
done
printf '%s\n' "$EXTRA_CA_CERTS" >>"$bundle"
SSL_CERT_FILE="$bundle" PIP_CERT="$bundle" REQUESTS_CA_BUNDLE="$bundle" UV_NATIVE_TLS=1 "$@"
