#!/usr/bin/env bash
# Installs envoyproxy/ratelimit (the reference Envoy Rate Limit Service, Go) into <repo>/.bin,
# for the side-by-side benchmark `go run ./rate-limiter/cmd/rlbench`. Idempotent: does nothing
# when .bin/service_cmd is already there. .bin/ is git-ignored; the binary is never committed.
#
# Usage: rate-limiter/scripts/install-envoy-ratelimit.sh   (from anywhere; needs the Go proxy)
set -euo pipefail

# The pinned commit of github.com/envoyproxy/ratelimit (main, 2026-01-22); its settings are in
# src/settings/settings.go of that module.
VERSION="${ENVOY_RATELIMIT_VERSION:-v1.4.1-0.20260122083618-3fb702589d36}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$REPO/.bin"
TARGET="$BIN/service_cmd"

if [[ -x "$TARGET" ]]; then
  echo "envoy ratelimit: already installed at $TARGET (delete it to reinstall)"
  exit 0
fi

command -v go >/dev/null || { echo "envoy ratelimit: go is not on PATH" >&2; exit 1; }
mkdir -p "$BIN"
echo "envoy ratelimit: go install github.com/envoyproxy/ratelimit/src/service_cmd@$VERSION (about 30 s) ..."
start=$SECONDS
# GOWORK=off: a module@version install ignores the workspace anyway; say so explicitly.
# GOFLAGS=-mod=mod keeps a workspace-wide -mod setting from breaking the install.
GOWORK=off GOFLAGS=-mod=mod GOBIN="$BIN" go install "github.com/envoyproxy/ratelimit/src/service_cmd@$VERSION"
echo "envoy ratelimit: installed $TARGET in $((SECONDS - start)) s"
