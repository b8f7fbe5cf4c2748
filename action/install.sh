#!/usr/bin/env bash
# Installs signet when the probe found no cached copy: built from the
# action's own checkout with Go, or downloaded and checked against the
# SHA-256 the version input names. It is made, checked and run in BIN, the
# job's own directory the probe created, and only a copy goes to the cache
# in $DIR/bin for later jobs: this job never runs anything from the cache,
# which other jobs on a self-hosted runner can write (see probe.sh).
#
# Environment: MODE, DIR, CACHE_KEY, URL, SHA256 (from the prep step), BIN
# (from the probe).
set -euo pipefail
# shellcheck source=action/lib.sh
. "$GITHUB_ACTION_PATH/action/lib.sh"

if [ -z "${BIN:-}" ] || [ ! -d "$BIN" ]; then
  fail "the probe step made no directory for signet (bin output '${BIN:-}')"
fi
new="$BIN/signet.new"

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
        -o "$new" ./cmd/signet
    )
    ;;
  download)
    echo "downloading $URL"
    curl -fsSL --retry 3 --proto '=https,file' -o "$new" "$URL" || fail "downloading $URL failed"
    got=$(sha256_of "$new")
    if [ "$got" != "$SHA256" ]; then
      rm -f "$new"
      fail "$URL has SHA-256 $got, not $SHA256 as the version input says; not installed"
    fi
    chmod 0755 "$new"
    ;;
  *)
    fail "unknown install mode '$MODE'"
    ;;
esac

"$new" version >/dev/null || fail "the installed signet does not run on this runner ($(uname -sm))"
mv -f "$new" "$BIN/signet"
echo "$BIN" >>"$GITHUB_PATH"
echo "installed $("$BIN/signet" version) in $BIN"

# The copy for later jobs (and for actions/cache to save) is written beside
# its destination and renamed, so a concurrent job on the same runner sees
# either no binary or a whole one. Later jobs check it again (probe.sh);
# failing to cache costs them an install, not this job its signing.
cache_copy() {
  local tmp
  mkdir -p "$DIR/bin" && tmp=$(mktemp "$DIR/bin/.signet.XXXXXX") || return 1
  if ! { cp "$BIN/signet" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$DIR/bin/signet"; }; then
    rm -f "$tmp"
    return 1
  fi
}
if cache_copy; then
  echo "cached in $DIR/bin"
else
  echo "::warning title=signet action::$(escape_data "could not cache signet in $DIR/bin; the next job installs it again")"
fi
