#!/usr/bin/env bash
# Looks for a cached signet (from an earlier run on this runner, or
# restored by actions/cache) and puts its directory on PATH for the rest of
# the job, so later steps can run `signet verify` too.
#
# Environment: DIR (from the prep step). Output: hit (true | false).
set -euo pipefail

hit=false
# A binary that does not run (a truncated copy, another architecture) is
# not a hit: it is rebuilt over.
if [ -x "$DIR/bin/signet" ] && "$DIR/bin/signet" version >/dev/null 2>&1; then
  hit=true
  echo "signet is cached in $DIR/bin: $("$DIR/bin/signet" version)"
fi
echo "hit=$hit" >>"$GITHUB_OUTPUT"
echo "$DIR/bin" >>"$GITHUB_PATH"
