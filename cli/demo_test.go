package cli_test

import (
	"strings"
	"testing"
)

// TestDemo runs make demo's command: it must sign and verify its whole
// sample catalog with no set-up.
func TestDemo(t *testing.T) {
	out := mustSignet(t, "demo")
	for _, want := range []string{
		"21 manifests (6 indexes): 21 signatures written",
		"All 21 manifests signed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if n := lines(out, "verified"); n != 21 {
		t.Errorf("demo verified %d manifests; want 21", n)
	}
	if lines(out, "FAILED") > 0 {
		t.Errorf("demo reported failures:\n%s", out)
	}
}
