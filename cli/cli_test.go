package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-project/signet/cli"
)

// signet runs the CLI in-process and returns its output and exit code.
func signet(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Main(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

// mustSignet runs the CLI and fails the test unless it exits 0.
func mustSignet(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := signet(t, args...)
	if code != 0 {
		t.Fatalf("signet %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFileAt(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// lines counts output lines starting with prefix (per-manifest verdicts).
func lines(out, prefix string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
