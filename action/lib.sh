# Shared by the action's step scripts (sourced, not run). Nothing here
# prints a secret: values reach the log only through ::add-mask::, which
# the runner consumes instead of printing.
#
# Sourcing it also trims PATH (below), before the script runs any program.

# cache_root is where prep.sh caches signet, one directory per mode and
# key. It outlives the job on a self-hosted runner, where every job runs as
# the same user and can write it; actions/cache carries it between jobs on
# GitHub-hosted ones. SIGNET_ACTION_CACHE overrides it.
cache_root=${SIGNET_ACTION_CACHE:-${RUNNER_TOOL_CACHE:-${HOME}/.cache}/signet-action}

# physical_dir prints the absolute, symlink-free path of an existing
# directory, and fails for anything else. Builtins only: it runs before
# PATH can be trusted.
physical_dir() {
  (CDPATH='' cd -P "$1" 2>/dev/null && pwd -P)
}

# trusted_path prints $PATH without the entries another job could plant a
# program in for this one to run: anything inside the cache (compared by
# physical path, so a symlink or another spelling of it goes too),
# relative entries (they name whatever directory the step runs in), and
# directories that do not exist yet (another job could create one). The
# cache directory reaches PATH if an earlier step put it there, such as an
# older version of this action used earlier in the job.
trusted_path() {
  local root entry phys kept='' rest="$PATH:"
  # A cache root that does not exist holds no directory yet; prep.sh
  # creates it, so the later steps compare against its physical path.
  root=$(physical_dir "$1") || root=${1%/}
  while [ -n "$rest" ]; do
    entry=${rest%%:*}
    rest=${rest#*:}
    case "$entry" in
      /*) ;;
      *) continue ;;
    esac
    phys=$(physical_dir "$entry") || continue
    case "$phys/" in
      "$root"/*) continue ;;
    esac
    kept=${kept:+$kept:}$phys
  done
  printf '%s' "$kept"
}

PATH=$(trusted_path "$cache_root")
export PATH

# escape_data escapes a workflow command's message as the runner unescapes
# it: "%" first, then CR and LF.
escape_data() {
  local s=$1
  s=${s//%/%25}
  s=${s//$'\r'/%0D}
  s=${s//$'\n'/%0A}
  printf '%s' "$s"
}

# fail ends the step with an error annotation on the action itself.
fail() {
  printf '::error title=signet action::%s\n' "$(escape_data "$*")"
  exit 1
}

# mask_value registers each non-blank line of a secret with the runner:
# it masks line by line, so a multi-line value registered whole would
# still show.
mask_value() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    if [ -n "${line//[[:space:]]/}" ]; then
      printf '::add-mask::%s\n' "$(escape_data "$line")"
    fi
  done <<<"$1"
}

# sha256_of prints a file's SHA-256 in hex (GNU coreutils on Linux,
# shasum on macOS runners).
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# sha256_stdin is sha256_of for standard input.
sha256_stdin() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d' ' -f1
  else
    shasum -a 256 | cut -d' ' -f1
  fi
}
