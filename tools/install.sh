#!/usr/bin/env bash
# Installs the real parts signet's tests run against, building the Go tools
# once and caching them under $HOME/.cache/signet/bin. A tool whose cached
# binary already reports the wanted module version is not rebuilt.
#
# usage: tools/install.sh [apt|cosign|notation|buildkit|crane|staticcheck|podman-verify|all]...
#
# Under CI=true any failure is fatal; otherwise a failure is reported and the
# remaining tools are still attempted, so a developer sees every problem at once.
set -uo pipefail

CACHE="${SIGNET_CACHE:-$HOME/.cache/signet}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
mkdir -p "$BIN" "$SRC"

COSIGN_V2=v2.6.5
COSIGN_V3=v3.1.3
NOTATION=v1.3.2
BUILDKIT=v0.34.2
CRANE=v0.22.1
STATICCHECK=v0.8.2

failed=0
fail() { echo "tools/install.sh: $*" >&2; failed=1; if [ "${CI:-}" = "true" ]; then exit 1; fi; }

# has BIN MODULE VERSION: the cached binary exists and was built from MODULE@VERSION.
has() {
  [ -x "$1" ] || return 1
  go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '($1=="mod"||$1=="dep") && $2==m && $3==v {f=1} END {exit !f}'
}

apt_install() {
  local need=()
  command -v softhsm2-util >/dev/null || need+=(softhsm2)
  command -v pkcs11-tool >/dev/null || need+=(opensc)
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v runc >/dev/null || need+=(runc)
  command -v shellcheck >/dev/null || need+=(shellcheck)
  # prlimit (a report write over a file-size limit) comes with util-linux,
  # which Debian installs everywhere, but a trimmed image may lack it.
  command -v prlimit >/dev/null || need+=(util-linux)
  # cgo: PKCS#11 modules are C libraries; without a C compiler Go builds
  # signet with cgo off and the HSM tests cannot run.
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  [ ${#need[@]} -eq 0 ] && return 0
  echo "installing with apt: ${need[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null \
    || fail "apt-get install ${need[*]} failed"
}

go_install() { # name module/cmd version module
  local name=$1 pkg=$2 ver=$3 mod=$4
  if has "$BIN/$name" "$mod" "$ver"; then return 0; fi
  echo "building $name $ver (cached afterwards in $BIN)"
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" CGO_ENABLED=0 go install "$pkg@$ver" && mv "$tmp/$(basename "$pkg")" "$BIN/$name" || fail "go install $pkg@$ver failed"
  rm -rf "$tmp"
}

# from_module NAME MODULE VERSION PKG...: builds commands whose `go install` is
# refused (notation: version list withheld by the proxy; buildkit: exclude
# directives) from a throwaway module that requires MODULE@VERSION and reuses
# its go.mod so every dependency is pinned exactly as upstream pins it.
from_module() {
  local name=$1 mod=$2 ver=$3; shift 3
  local dir="$SRC/$name-$ver"
  mkdir -p "$dir"
  local gomod
  gomod=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "$mod@$ver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -n "$gomod" ] || { fail "go mod download $mod@$ver failed"; return; }
  sed -e "s#^module .*#module signet.local/tools/$name#" "$gomod" > "$dir/go.mod"
  (cd "$dir" && go mod edit -require="$mod@$ver" && {
      echo "//go:build tools"; echo; echo "package tools"; echo; echo "import ("
      for p in "$@"; do echo "	_ \"$p\""; done; echo ")"; } > tools.go && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1; true)
  for p in "$@"; do
    local out="$BIN/$(basename "$p")"
    [ "$name" = notation ] && out="$BIN/notation"
    if has "$out" "$mod" "$ver"; then continue; fi
    echo "building $(basename "$p") $ver (cached afterwards in $BIN)"
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$out.tmp" "$p" && mv "$out.tmp" "$out") || fail "building $p@$ver failed"
  done
}

cosign()      { go_install cosign-v2 github.com/sigstore/cosign/v2/cmd/cosign $COSIGN_V2 github.com/sigstore/cosign/v2
                go_install cosign-v3 github.com/sigstore/cosign/v3/cmd/cosign $COSIGN_V3 github.com/sigstore/cosign/v3; }
notation()    { from_module notation github.com/notaryproject/notation $NOTATION github.com/notaryproject/notation/cmd/notation; }
buildkit()    { from_module buildkit github.com/moby/buildkit $BUILDKIT github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl; }
crane()       { go_install crane github.com/google/go-containerregistry/cmd/crane $CRANE github.com/google/go-containerregistry; }
staticcheck() { go_install staticcheck honnef.co/go/tools/cmd/staticcheck $STATICCHECK honnef.co/go/tools; }

# podman_verify builds tools/podman-verify, podman's verifier (go.podman.io/image/v5)
# as a test harness. It is its own module so c/image's dependencies stay out of
# signet's go.mod, and it is ours, so instead of a module version the sha256 of
# its sources is kept next to the binary: a mismatch means rebuild.
podman_verify() {
  local src out="$BIN/podman-verify" sum
  src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/podman-verify"
  sum=$(cd "$src" && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print0 \
          | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1) || { fail "hashing $src failed"; return; }
  if [ -x "$out" ] && [ "$(cat "$out.src-sha256" 2>/dev/null)" = "$sum" ]; then return 0; fi
  echo "building podman-verify (cached afterwards in $BIN)"
  # containers_image_openpgp: pure Go OpenPGP instead of gpgme (cgo). GOWORK=off:
  # build against this module's own go.mod even if a go.work sits above it.
  (cd "$src" && GOWORK=off CGO_ENABLED=0 go build -tags containers_image_openpgp -o "$out.tmp" . && mv "$out.tmp" "$out") \
    && echo "$sum" > "$out.src-sha256" || fail "building $src failed"
}

[ $# -eq 0 ] && set -- all
for what in "$@"; do
  case $what in
    all) apt_install; cosign; notation; buildkit; crane; staticcheck; podman_verify ;;
    apt|cosign|notation|buildkit|crane|staticcheck) "${what/apt/apt_install}" ;;
    podman-verify|podman_verify) podman_verify ;;
    *) echo "unknown tool: $what" >&2; exit 2 ;;
  esac
done
exit $failed
