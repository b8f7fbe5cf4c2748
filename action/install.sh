#!/usr/bin/env bash
# Installs signet into $DIR/bin when the probe found no cached copy: built
# from the action's own checkout with Go, or downloaded and checked against
# the SHA-256 the version input names.
#
# Environment: MODE, DIR, CACHE_KEY, URL, SHA256 (from the prep step).
set -euo pipefail
# shellcheck source=action/lib.sh
. "$GITHUB_ACTION_PATH/action/lib.sh"

mkdir -p "$DIR"
# Work beside the destination, so the final mv is a rename: a concurrent
# job on the same runner sees either no binary or a whole one.
tmp=$(mktemp -d "$DIR/.install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

case "$MODE" in
  build)
    command -v go >/dev/null 2>&1 || fail "building signet needs Go on PATH (actions/setup-go runs before this step unless signet is cached)"
    version=$(git -C "$GITHUB_ACTION_PATH" describe --tags --always --dirty 2>/dev/null || true)
    version=${version:-$CACHE_KEY}
    echo "building signet $version from $GITHUB_ACTION_PATH"
    # The caller's Go settings (a go.work, -mod=vendor) are for their own
    # module, not signet's. cgo is on: PKCS#11 modules are C libraries.
    # -trimpath keeps the runner's paths out of the binary, and makes the
    # build the same wherever the action was unpacked.
    (
      cd "$GITHUB_ACTION_PATH"
      GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=1 \
        go build -trimpath -buildvcs=false -ldflags "-X github.com/signet-project/signet/cli.version=$version" \
        -o "$tmp/signet" ./cmd/signet
    )
    ;;
  download)
    echo "downloading $URL"
    curl -fsSL --retry 3 --proto '=https,file' -o "$tmp/signet" "$URL" || fail "downloading $URL failed"
    got=$(sha256_of "$tmp/signet")
    if [ "$got" != "$SHA256" ]; then
      fail "$URL has SHA-256 $got, not $SHA256 as the version input says; not installed"
    fi
    chmod 0755 "$tmp/signet"
    ;;
  *)
    fail "unknown install mode '$MODE'"
    ;;
esac

"$tmp/signet" version >/dev/null || fail "the installed signet does not run on this runner ($(uname -sm))"
mkdir -p "$DIR/bin"
mv -f "$tmp/signet" "$DIR/bin/signet"
echo "installed $("$DIR/bin/signet" version) in $DIR/bin"
