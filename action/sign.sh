#!/usr/bin/env bash
# Runs `signet batch --github`: signet itself writes the step outputs
# (signed, failed, report, digests), the step summary and the failure
# annotations. This script only turns inputs into arguments and applies
# fail-on.
#
# Environment (mapped from inputs in action.yml): IMAGES, CATALOG, KEY,
# FORMATS, ATTEST, WORKERS, HSM_SESSIONS, POLICY, PKCS11_MODULE, SHARD,
# ARGS, FAIL_ON; BIN, the job's own directory holding the signet the probe
# or the install step checked.
set -euo pipefail
# shellcheck source=action/lib.sh
. "$GITHUB_ACTION_PATH/action/lib.sh"

# By its path, not through PATH: the very file the probe or install step
# checked, whatever else the job's PATH holds.
signet="${BIN:-}/signet"
if [ -z "${BIN:-}" ] || [ ! -x "$signet" ]; then
  fail "no checked signet in '${BIN:-}' (the probe and install steps put it there)"
fi

work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/signet.XXXXXX")
args=(batch --github --report "$work/report.json" --workers "$WORKERS")

if [ -n "${IMAGES//[[:space:]]/}" ]; then
  # One reference per line makes a plain-text catalog. Globbing is off
  # while the list is split on whitespace: a reference is never a pattern.
  set -f
  # shellcheck disable=SC2086 # splitting on spaces and newlines is the point
  printf '%s\n' $IMAGES >"$work/images.txt"
  set +f
  args+=(--catalog "$work/images.txt")
else
  args+=(--catalog "$CATALOG")
fi

# The key goes through the environment, not the command line: argv is
# visible to every process on the runner, and the URI might carry a PIN.
if [ -n "${KEY:-}" ]; then
  export SIGNET_KEY="$KEY"
fi
if [ -n "${PKCS11_MODULE:-}" ]; then
  export SIGNET_PKCS11_MODULE="$PKCS11_MODULE"
fi

# list joins words separated by spaces, commas or newlines with commas,
# the form signet's list flags take.
list() { printf '%s' "$1" | tr -s ' ,\t\r\n' ',' | sed -e 's/^,//' -e 's/,$//'; }
formats=$(list "${FORMATS:-}")
if [ -n "$formats" ]; then
  args+=(--format "$formats")
fi
attest=$(list "${ATTEST:-}")
if [ -n "$attest" ]; then
  args+=(--attest "$attest")
fi
if [ -n "${HSM_SESSIONS:-}" ]; then
  args+=(--hsm-sessions "$HSM_SESSIONS")
fi
if [ -n "${POLICY:-}" ]; then
  args+=(--policy "$POLICY")
fi
if [ -n "${SHARD:-}" ]; then
  args+=(--shard "$SHARD")
fi
# Extra arguments, one per line, each passed as one argument: no shell
# word splitting or expansion happens to them.
while IFS= read -r arg || [ -n "$arg" ]; do
  arg=${arg%$'\r'}
  arg="${arg#"${arg%%[![:space:]]*}"}"
  arg="${arg%"${arg##*[![:space:]]}"}"
  if [ -n "$arg" ]; then
    args+=("$arg")
  fi
done <<<"${ARGS:-}"

echo "signet ${args[*]}"
code=0
"$signet" "${args[@]}" || code=$?

# signet exits 2 when some images failed and the rest were signed, 1 when
# nothing was attempted (bad key, PIN, flags). fail-on: none forgives the
# first only: a configuration error is never a success.
if [ "$code" -eq 2 ] && [ "$FAIL_ON" = none ]; then
  echo "::notice title=signet action::some images were not signed (see the annotations and the summary); fail-on: none keeps this step green"
  exit 0
fi
exit "$code"
