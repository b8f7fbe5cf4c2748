// Package testenv starts the real parts signet's integration tests run
// against: Debian's docker-registry and go-containerregistry's in-process
// registry on loopback, SoftHSM2 tokens in temporary directories, and the
// cached builds of cosign, notation and buildkitd (with an environment that
// keeps cosign offline), and in-memory keys for tests that need a
// signature.Signer but not a token. Each helper registers its own cleanup
// with t.Cleanup.
//
// It imports nothing of signet's: hsm, attest, signature, cli and
// buildkit/pending have internal tests that import it.
//
// A missing part skips the test on a developer machine and fails it under
// CI=true, where every part must be present.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CI reports whether the tests run in CI, where a missing part is a failure.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing ends the test because a real part is not available: it fails under
// CI and skips elsewhere, naming what to install.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s is missing (CI=true makes this a failure): %s", what, install)
	}
	t.Skipf("%s is missing: %s", what, install)
}

// LookPath finds a program on PATH or ends the test through Missing.
func LookPath(t testing.TB, prog, install string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		Missing(t, prog, install)
	}
	return p
}

// CacheDir is where tools/install.sh keeps the tools it builds.
func CacheDir() string {
	if d := os.Getenv("SIGNET_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "signet")
}

// Tool returns the path of a tool built by tools/install.sh (cosign-v2,
// cosign-v3, notation, buildkitd, buildctl, crane) or ends the test through
// Missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(CacheDir(), "bin", name)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		Missing(t, name, "run tools/install.sh (make test does)")
	}
	return p
}

// CosignEnv returns the environment to run the cached cosign builds in, off
// the network and out of the user's files: HOME, and with it cosign's
// config and TUF cache, in a directory of the test's own, no cache of
// sigstore's trust material, prompts answered yes and key files with the
// empty password. Commands that belong together (a signature and its
// verification) share one; a caller may append to override.
func CosignEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"),
		"COSIGN_PASSWORD=", "COSIGN_YES=true", "SIGSTORE_NO_CACHE=true")
}
