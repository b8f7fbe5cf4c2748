// Package testenv starts the real parts signet's integration tests run
// against: Debian's docker-registry and go-containerregistry's in-process
// registry on loopback, SoftHSM2 tokens in temporary directories, and the
// cached builds of cosign, notation and buildkitd. Each helper registers its
// own cleanup with t.Cleanup.
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
