#!/usr/bin/env bash
# First step of the action: masks the secrets the action can see, checks
# the inputs (the runner enforces neither `required` nor any format), and
# decides how signet is installed and where it is cached.
#
# Environment (mapped from inputs in action.yml): KEY, IMAGES, CATALOG,
# FAIL_ON, WORKERS, HSM_SESSIONS, SHARD, VERSION.
# Outputs: mode (build | download), dir (where bin/signet is cached, shared
# with other jobs), key (the cache key), url and sha256 (download mode).
set -euo pipefail
# shellcheck source=action/lib.sh
. "$GITHUB_ACTION_PATH/action/lib.sh"

# Masking comes first, before any message could quote an input. A PIN in
# the key URI should not be there (use pin-source or SIGNET_PKCS11_PIN),
# but if it is, it is masked both as written and percent-decoded. signet
# reads a query value up to the next '&' only, so ';', '?' and quotes can be
# part of the PIN: each pin-value is masked up to the next '&', and also up
# to the first ';', '?' or '&' (what a reader splitting on those would
# print). Masking a string that is not a PIN hides nothing that matters;
# masking too short a string would print the PIN's tail.
mask_pin() {
  local raw=$1 decoded
  [ -n "$raw" ] || return 0
  mask_value "$raw"
  # Only %XX is decoded: a backslash in the PIN stays a backslash.
  decoded=${raw//\\/\\\\}
  decoded=${decoded//%/\\x}
  mask_value "$(printf '%b' "$decoded")"
}
if [ -n "${KEY:-}" ]; then
  rest=$KEY
  pin_re='[Pp][Ii][Nn]-[Vv][Aa][Ll][Uu][Ee]=([^&]*)(.*)'
  while [[ $rest =~ $pin_re ]]; do
    value=${BASH_REMATCH[1]}
    rest=${BASH_REMATCH[2]}
    mask_pin "$value"
    mask_pin "${value%%[;?]*}"
  done
fi
for var in SIGNET_PKCS11_PIN SIGNET_KEY_PASSWORD COSIGN_PASSWORD; do
  if [ -n "${!var:-}" ]; then
    mask_value "${!var}"
  fi
done

case "${FAIL_ON:-}" in
  any | none) ;;
  *) fail "fail-on must be 'any' or 'none', not '${FAIL_ON:-}'" ;;
esac
has_images=${IMAGES//[[:space:]]/}
has_catalog=${CATALOG//[[:space:]]/}
if [ -n "$has_images" ] && [ -n "$has_catalog" ]; then
  fail "give either images or catalog, not both"
fi
if [ -z "$has_images" ] && [ -z "$has_catalog" ]; then
  fail "nothing to sign: set images (references, one per line) or catalog (a catalog file)"
fi
if [ -n "$has_catalog" ] && [ ! -f "$CATALOG" ]; then
  fail "catalog '$CATALOG' is not a file (paths are relative to $PWD)"
fi
if ! [[ "${WORKERS:-}" =~ ^[1-9][0-9]*$ ]]; then
  fail "workers must be a whole number of at least 1, not '${WORKERS:-}'"
fi
if [ -n "${HSM_SESSIONS:-}" ] && ! [[ "$HSM_SESSIONS" =~ ^[1-9][0-9]*$ ]]; then
  fail "hsm-sessions must be empty or a whole number of at least 1, not '$HSM_SESSIONS'"
fi
if [ -n "${SHARD:-}" ] && ! [[ "$SHARD" =~ ^[0-9]+/[1-9][0-9]*$ ]]; then
  fail "shard must be I/N (e.g. 0/3), not '$SHARD'"
fi

# The cache root (lib.sh) is made now and named by its physical path, so
# that the later steps' trusted_path recognises every spelling of it.
mkdir -p "$cache_root" || fail "cannot create the cache directory $cache_root (SIGNET_ACTION_CACHE names another)"
root=$(physical_dir "$cache_root") || fail "the cache directory $cache_root cannot be entered"

if [ -z "${VERSION:-}" ]; then
  # Build mode: the key is a digest of the Go sources of the action's own
  # checkout. A commit id would do as well, but the runner fetches actions
  # as archives without .git, and a tag in `uses:` can move; the content
  # cannot. The platform is part of the key because the binary is.
  src=$(
    cd "$GITHUB_ACTION_PATH"
    find . \( -name .git -o -name testdata -o -name node_modules \) -prune -o -type f \
      \( \( -name '*.go' ! -name '*_test.go' \) -o -name go.mod -o -name go.sum \) -print |
      LC_ALL=C sort |
      while IFS= read -r f; do printf '%s %s\n' "$(sha256_of "$f")" "$f"; done |
      sha256_stdin
  )
  key="src-$(uname -s)-$(uname -m)-${src:0:32}"
  {
    echo "mode=build"
    echo "key=$key"
    echo "dir=$root/$key"
  } >>"$GITHUB_OUTPUT"
  exit 0
fi

# Download mode: version is the URL of a release binary and its SHA-256,
# as URL#sha256=HEX. file:// is allowed for binaries the workflow has
# already fetched (or built) itself.
if ! [[ "$VERSION" =~ ^((https|file)://[^[:space:]#]+)#sha256=([0-9a-fA-F]{64})$ ]]; then
  fail "version must be empty (build signet from the action's source) or URL#sha256=HEX for a release binary (https:// or file://), not '$VERSION'"
fi
url=${BASH_REMATCH[1]}
sum=$(printf '%s' "${BASH_REMATCH[3]}" | tr 'A-F' 'a-f')
key="dl-$(uname -s)-$(uname -m)-$sum"
{
  echo "mode=download"
  echo "key=$key"
  echo "dir=$root/$key"
  echo "url=$url"
  echo "sha256=$sum"
} >>"$GITHUB_OUTPUT"
