package policy

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	f := newFixture(t)
	p := mustParse(t, f.dir, fullYAML)
	tests := []struct {
		ref  string
		want []string
	}{
		{"registry.example.com/team/app:v1", []string{
			"registry.example.com/team/app:v1\n  repository registry.example.com/team/app\n",
			`trust: rule "prod" (`, "level enforce: violations block",
			`* "registry.example.com/team/*"`, `  "*"`,
			"key: keys/release.pub " + f.release.fp + "\n",
			"key: keys/old.pub " + f.old.fp + " (revoked)",
			`root: ca/root.pem "CN=Acme Root CA,O=Acme"`,
			`identities: "CN=release-signer, O=Acme, C=US"`,
			"revoked: keys 1, certificates 1, serial numbers 1",
			"requires: a trusted signature in each of cosign, notation",
			"requires attestations: https://slsa.dev/provenance/v1",
			"signing: keys that may sign here:\n  pkcs11:token=release;object=prod-key in cosign, notation (rule \"release\"",
		}},
		{"ghcr.io/x/y", []string{
			`trust: rule "everything-else"`, "level audit: violations are only recorded",
			"roots: none", "requires: a trusted signature in at least one format",
			"signing: no rule covers this repository: no key may sign it",
		}},
	}
	for _, tt := range tests {
		out, err := p.Explain(tt.ref)
		if err != nil {
			t.Fatalf("Explain(%q) = %v", tt.ref, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("Explain(%q) =\n%s\nwant it to contain %q", tt.ref, out, w)
			}
		}
	}
	if _, err := p.Explain("Bad Ref"); err == nil {
		t.Error("Explain(invalid) = nil error")
	}
	p.Trust = p.Trust[:1]
	out, _ := p.Explain("ghcr.io/x/y")
	if !strings.Contains(out, "trust: no rule applies: verification with this policy fails") {
		t.Errorf("Explain(uncovered) =\n%s", out)
	}
}
