#!/usr/bin/env bash
# Looks for a cached signet (from an earlier run on this runner, or
# restored by actions/cache). A usable one is copied into a directory of
# this job's own, which goes on PATH for the rest of the job, so later
# steps can run `signet verify` too.
#
# The cache directory itself never goes on PATH: on a self-hosted runner
# other jobs can write it, and anything they put beside signet (a mktemp,
# a sha256sum) would run in this job's steps, with the PIN in their
# environment. And only the copy is checked and run: the cached file can
# be swapped at any moment, the copy cannot (see docs/github-action.md).
#
# Environment: MODE, DIR, SHA256 (from the prep step). Outputs: hit (true |
# false), bin (the job's own directory, where install.sh puts signet on a
# miss).
set -euo pipefail
# shellcheck source=action/lib.sh
. "$GITHUB_ACTION_PATH/action/lib.sh"

# RUNNER_TEMP is the job's own and emptied after it; mktemp makes a fresh
# directory, mode 0700, that no one could have prepared in advance.
bin=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/signet-bin.XXXXXX")
echo "bin=$bin" >>"$GITHUB_OUTPUT"

hit=false
cached="$DIR/bin/signet"
if [ -f "$cached" ] && cp "$cached" "$bin/signet" 2>/dev/null; then
  chmod 0755 "$bin/signet"
  # A downloaded binary is pinned by its SHA-256: a copy that differs
  # (planted by another job on a shared runner, or damaged) is not run, not
  # even to ask its version, and is replaced by a checked download.
  if [ "$MODE" = download ] && [ "$(sha256_of "$bin/signet")" != "$SHA256" ]; then
    echo "the cached $cached is not the binary whose SHA-256 the version input names; downloading it again"
  # A binary that does not run (a truncated copy, another architecture) is
  # not a hit: it is rebuilt over.
  elif "$bin/signet" version >/dev/null 2>&1; then
    hit=true
    echo "signet is cached in $DIR/bin: $("$bin/signet" version); running a copy from $bin"
  fi
  if [ "$hit" != true ]; then
    rm -f "$bin/signet"
  fi
fi
echo "hit=$hit" >>"$GITHUB_OUTPUT"
if [ "$hit" = true ]; then
  echo "$bin" >>"$GITHUB_PATH"
fi
