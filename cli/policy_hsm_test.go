package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

// TestPolicyKeysWrongPIN: a policy's keys on a token without public key
// objects are each opened to read their public half, which logs in. A
// wrong PIN must reach the token once in a run, however many keys (and
// policy files) name that token: HSMs lock the PIN after a few failures.
func TestPolicyKeysWrongPIN(t *testing.T) {
	tok := testenv.SoftHSM(t)
	t.Setenv("SIGNET_PKCS11_MODULE", "")
	// RSA: a private key without its public key object still tells its
	// public key, an EC one does not; with the right PIN the keys load.
	for i, l := range []string{"a", "b"} {
		tok.GenerateKey(t, l, "rsa:2048", fmt.Sprintf("0%d", i+1))
		tok.DeletePublicKey(t, l)
	}
	module, calls := tok.Spy(t)
	uri := func(l string) string {
		return fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s", tok.Label, l, module)
	}
	pol := writeFile(t, "p.yaml", fmt.Sprintf(`apiVersion: signet.dev/v1
kind: TrustPolicy
trust:
  - name: a
    scopes: ["127.0.0.1:*/a/*"]
    level: enforce
    keys: ["%s"]
  - name: b
    scopes: ["127.0.0.1:*/b/*"]
    level: enforce
    keys: ["%s"]
`, uri("a"), uri("b")))

	tests := []struct {
		name     string
		pin      string
		args     []string
		wantCode int
		wantOut  string // in stdout+stderr
	}{
		{"verify --policy, wrong PIN", "wrong-pin", []string{"verify", "--policy", pol, "127.0.0.1:1/a/x:1"}, 1, "PIN incorrect"},
		{"policy check of two files, wrong PIN", "wrong-pin", []string{"policy", "check", pol, pol}, 1, "PIN incorrect"},
		{"policy check of two files, right PIN", tok.PIN, []string{"policy", "check", pol, pol}, 0, pol + ": ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SIGNET_PKCS11_PIN", tt.pin)
			before := calls("C_Login")
			out, errOut, code := signet(t, tt.args...)
			if n := calls("C_Login") - before; n != 1 {
				t.Errorf("%d C_Login calls; want 1 for the run", n)
			}
			if code != tt.wantCode || !strings.Contains(out+errOut, tt.wantOut) {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d and %q", code, out, errOut, tt.wantCode, tt.wantOut)
			}
		})
	}
}
