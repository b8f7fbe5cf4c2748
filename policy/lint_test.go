package policy

import (
	"strings"
	"testing"
	"time"

	"crypto/x509"
	"crypto/x509/pkix"
)

func TestLint(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	writeFile(t, dir, "k.pub", pubPEM(t, k.Public()))
	p := newPKI(t, "Acme")
	writeFile(t, dir, "root.pem", certPEM(p.root))
	writeFile(t, dir, "leaf.pem", certPEM(p.leaf))
	oldRoot, _ := issue(t, certSpec{subject: pkix.Name{CommonName: "Old Root"}, ca: true, ku: x509.KeyUsageCertSign,
		notBefore: time.Now().Add(-3 * yearDur), notAfter: time.Now().Add(-yearDur)}, nil, nil)
	writeFile(t, dir, "old-root.pem", certPEM(oldRoot))
	head := "apiVersion: signet.dev/v1\nkind: Policy\n"
	tests := []struct {
		name string
		text string
		want []string // "severity: substring", in any order
		none bool     // want no problems at all
	}{
		{name: "clean", none: true, text: head + dedent(`
			trust:
			  - name: prod
			    scopes: ["r.io/prod/*"]
			    level: enforce
			    keys: [k.pub]
			  - name: rest
			    scopes: ["*"]
			    level: audit
			    keys: [k.pub]
			signing:
			  - key: "pkcs11:token=t;object=k"
			    scopes: ["r.io/prod/*"]
			    formats: [cosign]
			`)},
		{name: "same scope in two rules", text: head + dedent(`
			trust:
			  - name: a
			    scopes: ["r.io/x/*"]
			    level: enforce
			    keys: [k.pub]
			  - name: b
			    scopes: ["r.io/x/*"]
			    level: warn
			    keys: [k.pub]
			`), want: []string{`error: rule "b": scope "r.io/x/*" is also a scope of rule "a"`}},
		{name: "tie", text: head + dedent(`
			trust:
			  - name: a
			    scopes: ["r.io/*/a/*"]
			    level: enforce
			    keys: [k.pub]
			  - name: b
			    scopes: ["r.io/*/*/a"]
			    level: warn
			    keys: [k.pub]
			`), want: []string{`error: rule "b": scope "r.io/*/*/a" ties with scope "r.io/*/a/*" of rule "a"`, "both match r.io/"}},
		{name: "unreachable rule", text: head + dedent(`
			trust:
			  - name: fallback
			    scopes: ["*"]
			    level: audit
			    keys: [k.pub]
			  - name: any-host
			    scopes: ["*/**"]
			    level: enforce
			    keys: [k.pub]
			`), want: []string{`error: rule "fallback": rule is unreachable`, `scope "*" is covered by "*/**" (rule "any-host")`}},
		{name: "shadowed scope", text: head + dedent(`
			trust:
			  - name: any-host
			    scopes: ["*/**"]
			    level: enforce
			    keys: [k.pub]
			  - name: mixed
			    scopes: ["*", "q.io/app"]
			    level: enforce
			    keys: [k.pub]
			`), want: []string{`warning: rule "mixed": scope "*" is covered by "*/**" (rule "any-host"), so it never selects this rule`}},
		{name: "enforce with nothing trusted", text: head + dedent(`
			trust:
			  - name: empty
			    scopes: ["*"]
			    level: enforce
			  - name: empty-audit
			    scopes: ["r.io/*"]
			    level: audit
			`), want: []string{`error: rule "empty": rule trusts no keys and no roots: under enforce it blocks every image`,
			`warning: rule "empty-audit": rule trusts no keys and no roots`}},
		{name: "identities without roots", text: head + dedent(`
			trust:
			  - name: ids
			    scopes: ["*"]
			    level: enforce
			    keys: [k.pub]
			    identities: ["CN=x"]
			`), want: []string{`error: rule "ids": identities apply to certificates`}},
		{name: "roots without identities, revoked key, redundant identity, bad roots", text: head + dedent(`
			trust:
			  - name: certs
			    scopes: ["*"]
			    level: enforce
			    roots: [root.pem, leaf.pem, old-root.pem]
			    keys: [k.pub]
			    revoked: {keys: [k.pub]}
			  - name: ids
			    scopes: ["r.io/*"]
			    level: enforce
			    roots: [root.pem]
			    identities: ["O=Acme", "CN=a, O=Acme"]
			`), want: []string{
			`warning: rule "certs": rule lists roots but no identities`,
			`warning: rule "certs": key k.pub (sha256:`,
			`error: rule "certs": root leaf.pem "CN=release-signer,O=Acme,ST=WA,C=US" is neither a CA nor self-signed`,
			`warning: rule "certs": root old-root.pem "CN=Old Root" expired on`,
			`warning: rule "ids": identity "CN=a, O=Acme" is redundant: "O=Acme" already matches`,
		}},
		{name: "root revoked by serial", text: head + dedent(`
			trust:
			  - name: certs
			    scopes: ["*"]
			    level: enforce
			    roots: [root.pem]
			    identities: ["*"]
			    revoked: {certificates: ["serial:`+p.root.SerialNumber.Text(16)+`"]}
			`), want: []string{`warning: rule "certs": root root.pem "CN=Acme Root CA,O=Acme" is revoked (revoked certificate serial`}},
		{name: "broad signing rules", text: head + dedent(`
			signing:
			  - key: "pkcs11:token=t"
			    scopes: ["*"]
			    formats: [cosign]
			`), want: []string{`warning: rule "signing[0]"`, `scope "*" lets key pkcs11:token=t sign any repository`,
			"names no object or id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := mustParse(t, dir, tt.text).Lint()
			var lines []string
			for _, pr := range probs {
				lines = append(lines, string(pr.Severity)+": "+strings.TrimPrefix(pr.String(), pr.Pos.String()+": "+string(pr.Severity)+": "))
			}
			all := strings.Join(lines, "\n")
			if tt.none && len(probs) > 0 {
				t.Errorf("Lint() =\n%s\nwant nothing", all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("Lint() =\n%s\nwant a problem containing %q", all, w)
				}
			}
			for _, pr := range probs {
				if pr.Pos.Line == 0 {
					t.Errorf("problem without a line: %v", pr)
				}
			}
		})
	}
}
