#!/usr/bin/env bash
# Installs Centrifugo (the reference real-time messaging server, Go) into <repo>/.bin, for the
# side-by-side benchmark `go run ./chat-app/cmd/chatbench`. Idempotent: does nothing when
# .bin/centrifugo is already there. .bin/ is git-ignored; the binary is never committed.
#
# Usage: chat-app/scripts/install-centrifugo.sh   (from anywhere; needs the Go proxy; a few minutes)
set -euo pipefail

VERSION="${CENTRIFUGO_VERSION:-v6.9.1}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$REPO/.bin"
TARGET="$BIN/centrifugo"

if [[ -x "$TARGET" ]]; then
  echo "centrifugo: already installed at $TARGET (delete it to reinstall)"
  exit 0
fi

command -v go >/dev/null || { echo "centrifugo: go is not on PATH" >&2; exit 1; }
mkdir -p "$BIN"
echo "centrifugo: go install github.com/centrifugal/centrifugo/v6@$VERSION (a few minutes) ..."
start=$SECONDS
# Outside the workspace (GOWORK=off, run from a temp dir) so no workspace -mod setting interferes.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
GOWORK=off GOFLAGS=-mod=mod GOBIN="$BIN" go install "github.com/centrifugal/centrifugo/v6@$VERSION"
echo "centrifugo: installed $TARGET in $((SECONDS - start)) s"
