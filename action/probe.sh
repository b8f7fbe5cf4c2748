#!/usr/bin/env bash
# Looks for a cached signet (from an earlier run on this runner, or
# restored by actions/cache) and puts its directory on PATH for the rest of
# the job, so later steps can run `signet verify` too.
#
# Environment: MODE, DIR, SHA256 (from the prep step). Output: hit (true |
# false).
set -euo pipefail
# shellcheck source=action/lib.sh
. "$GITHUB_ACTION_PATH/action/lib.sh"

hit=false
cached="$DIR/bin/signet"
# A downloaded binary is pinned by its SHA-256: a cached copy that differs
# (planted by another job on a shared runner, or damaged) is not run, not
# even to ask its version, and is replaced by a checked download.
if [ -x "$cached" ] && [ "$MODE" = download ] && [ "$(sha256_of "$cached")" != "$SHA256" ]; then
  echo "the cached $cached is not the binary whose SHA-256 the version input names; downloading it again"
# A binary that does not run (a truncated copy, another architecture) is
# not a hit: it is rebuilt over.
elif [ -x "$cached" ] && "$cached" version >/dev/null 2>&1; then
  hit=true
  echo "signet is cached in $DIR/bin: $("$cached" version)"
fi
echo "hit=$hit" >>"$GITHUB_OUTPUT"
echo "$DIR/bin" >>"$GITHUB_PATH"
