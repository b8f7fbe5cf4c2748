# Shared by the action's step scripts (sourced, not run). Nothing here
# prints a secret: values reach the log only through ::add-mask::, which
# the runner consumes instead of printing.

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
