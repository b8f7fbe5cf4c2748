package policy

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture writes the files a full policy names and returns the directory.
type fixture struct {
	dir     string
	pki     *testPKI
	release *testKey
	old     *testKey
}

type testKey struct {
	pub  crypto.PublicKey
	path string
	fp   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, pki: newPKI(t, "Acme")}
	rk, ok := newKey(t), newKey(t)
	f.release = &testKey{pub: rk.Public(), path: writeFile(t, dir, "keys/release.pub", pubPEM(t, rk.Public())), fp: fingerprint(t, rk.Public())}
	f.old = &testKey{pub: ok.Public(), path: writeFile(t, dir, "keys/old.pub", pubPEM(t, ok.Public())), fp: fingerprint(t, ok.Public())}
	writeFile(t, dir, "ca/root.pem", certPEM(f.pki.root))
	writeFile(t, dir, "certs/leaked.pem", certPEM(f.pki.leaf))
	writeFile(t, dir, "keys/release.key", privPEM(t, rk))
	return f
}

const fullYAML = `
apiVersion: signet.dev/v1
kind: Policy
trust:
  - name: prod
    scopes: ["registry.example.com/team/*", "127.0.0.1:*/app/**"]
    level: enforce
    keys: [keys/release.pub, keys/old.pub]
    roots: [ca/root.pem]
    identities: ["CN=release-signer, O=Acme, C=US"]
    revoked:
      keys: [keys/old.pub]
      certificates: [certs/leaked.pem, "serial:0a1b"]
    require:
      formats: [cosign, notation]
      attestations: ["https://slsa.dev/provenance/v1"]
  - name: everything-else
    scopes: ["*"]
    level: audit
    keys: [keys/release.pub]
signing:
  - name: release
    key: "pkcs11:token=release;object=prod-key"
    scopes: ["registry.example.com/team/*"]
    formats: [cosign, notation]
`

const fullJSON = `{
  "apiVersion": "signet.dev/v1",
  "kind": "Policy",
  "trust": [
    {"name": "prod",
     "scopes": ["registry.example.com/team/*", "127.0.0.1:*/app/**"],
     "level": "enforce",
     "keys": ["keys/release.pub", "keys/old.pub"],
     "roots": ["ca/root.pem"],
     "identities": ["CN=release-signer, O=Acme, C=US"],
     "revoked": {"keys": ["keys/old.pub"], "certificates": ["certs/leaked.pem", "serial:0a1b"]},
     "require": {"formats": ["cosign", "notation"], "attestations": ["https://slsa.dev/provenance/v1"]}},
    {"name": "everything-else", "scopes": ["*"], "level": "audit", "keys": ["keys/release.pub"]}
  ],
  "signing": [
    {"name": "release", "key": "pkcs11:token=release;object=prod-key",
     "scopes": ["registry.example.com/team/*"], "formats": ["cosign", "notation"]}
  ]
}`

func TestParseValid(t *testing.T) {
	f := newFixture(t)
	for name, text := range map[string]string{"yaml": fullYAML, "json": fullJSON} {
		t.Run(name, func(t *testing.T) {
			p := mustParse(t, f.dir, text)
			if p.Kind != KindPolicy || len(p.Trust) != 2 || len(p.Signing) != 1 {
				t.Fatalf("Parse() = kind %q, %d trust, %d signing; want Policy, 2, 1", p.Kind, len(p.Trust), len(p.Signing))
			}
			prod := p.Trust[0]
			if prod.Name != "prod" || prod.Level != LevelEnforce || len(prod.Patterns) != 2 {
				t.Errorf("rule 0 = %q %q %d scopes; want prod enforce 2", prod.Name, prod.Level, len(prod.Patterns))
			}
			if prod.Pos.Line == 0 || !strings.HasSuffix(prod.Pos.File, "policy.yaml") {
				t.Errorf("rule 0 Pos = %v; want policy.yaml:<line>", prod.Pos)
			}
			keys := prod.Keys()
			if len(keys) != 1 || fingerprint(t, keys[0]) != f.release.fp {
				t.Errorf("Keys() = %d keys; want only the release key (old.pub is revoked)", len(keys))
			}
			if revoked, _ := prod.Revoked(f.old.pub); !revoked {
				t.Error("Revoked(old key) = false; want true")
			}
			if len(prod.RevokedKeys()) != 1 {
				t.Errorf("RevokedKeys() = %d keys; want 1", len(prod.RevokedKeys()))
			}
			if len(prod.roots) != 1 || len(prod.identities) != 1 {
				t.Errorf("roots, identities = %d, %d; want 1, 1", len(prod.roots), len(prod.identities))
			}
			if len(prod.revokedCerts) != 1 || len(prod.revokedSerials) != 1 {
				t.Errorf("revoked certs, serials = %d, %d; want 1, 1", len(prod.revokedCerts), len(prod.revokedSerials))
			}
			if !slices.Equal(prod.RequiredFormats, []string{"cosign", "notation"}) ||
				!slices.Equal(prod.RequiredAttestations, []string{"https://slsa.dev/provenance/v1"}) {
				t.Errorf("require = %v %v", prod.RequiredFormats, prod.RequiredAttestations)
			}
			sr := p.Signing[0]
			if sr.Name != "release" || sr.key.kind != keyPKCS11 || !slices.Equal(sr.Formats, []string{"cosign", "notation"}) {
				t.Errorf("signing rule = %+v", sr)
			}
			if probs := p.Lint(); probs.Err() != nil {
				t.Errorf("Lint() = %v; want no errors", probs.Err())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	f := newFixture(t)
	head := "apiVersion: signet.dev/v1\nkind: TrustPolicy\ntrust:\n"
	rule := func(extra string) string {
		return head + "  - name: prod\n    scopes: [\"registry.example.com/team/*\"]\n    level: enforce\n    keys: [keys/release.pub]\n" + extra
	}
	tests := []struct {
		name string
		text string
		want []string // substrings of the error, "policy.yaml:N:" included where a line is known
	}{
		{"empty", "", []string{"empty policy"}},
		{"not a mapping", "- a\n- b\n", []string{"policy.yaml:1: error: policy: want a mapping, got a list"}},
		{"missing apiVersion", "kind: TrustPolicy\ntrust: []\n", []string{"missing apiVersion"}},
		{"wrong apiVersion", "apiVersion: v2\nkind: TrustPolicy\ntrust: []\n", []string{`policy.yaml:1: error: apiVersion "v2" is not supported`}},
		{"bad kind", "apiVersion: signet.dev/v1\nkind: Trust\ntrust: []\n", []string{`policy.yaml:2: error: kind "Trust"`}},
		{"unknown top-level field", "apiVersion: signet.dev/v1\nkind: TrustPolicy\ntrusts: []\n",
			[]string{`policy.yaml:3: error: policy: unknown field "trusts"`, `did you mean "trust"?`}},
		{"unknown rule field", rule("    scope: [\"x/y\"]\n"),
			[]string{`policy.yaml:8: error: trust[0]: unknown field "scope"`, `did you mean "scopes"?`}},
		{"duplicate field", rule("    level: warn\n"), []string{`policy.yaml:8: error: trust[0]: field "level" appears twice`}},
		{"bad level", strings.Replace(rule(""), "level: enforce", "level: strict", 1),
			[]string{`policy.yaml:6: error: rule "prod": level "strict": want enforce, warn or audit; did you mean "enforce"?`}},
		{"level not a string", strings.Replace(rule(""), "level: enforce", "level: 3", 1),
			[]string{`policy.yaml:6: error: rule "prod": level: want a string, got a number`}},
		{"uppercase glob", strings.Replace(rule(""), "team/*", "Team/*", 1), []string{`policy.yaml:5:`, "lowercase"}},
		{"glob without host", strings.Replace(rule(""), "registry.example.com/team/*", "team/app", 1),
			[]string{`policy.yaml:5:`, `"team" is not a registry host`}},
		{"partial double star", strings.Replace(rule(""), "team/*", "team/a**", 1), []string{`policy.yaml:5:`, `"**" must be a whole part`}},
		{"question mark", strings.Replace(rule(""), "team/*", "team/a?", 1), []string{`only '*' and '**' are wildcards`}},
		{"unquoted star", head + "  - name: all\n    scopes: [*]\n    level: audit\n", []string{"policy.yaml:5:", `must be quoted: "*"`}},
		{"missing key file", strings.Replace(rule(""), "keys/release.pub", "keys/missing.pub", 1),
			[]string{`policy.yaml:7: error: rule "prod": keys[0] "keys/missing.pub": reading ` + filepath.Join(f.dir, "keys/missing.pub"), "no such file"}},
		{"private key as trusted key", strings.Replace(rule(""), "keys/release.pub", "keys/release.key", 1),
			[]string{`policy.yaml:7:`, "holds a private key (PRIVATE KEY)"}},
		{"bad root file", rule("    roots: [keys/release.pub]\n"), []string{`policy.yaml:8:`, `unexpected PEM block "PUBLIC KEY"`}},
		{"bad identity", rule("    roots: [ca/root.pem]\n    identities: [\"XX=foo\"]\n"), []string{`policy.yaml:9:`, `unknown attribute type "XX"`}},
		{"bad fingerprint", rule("    revoked: {keys: [\"sha256:abc\"]}\n"), []string{`policy.yaml:8:`, "has 3 hex digits"}},
		{"bad serial", rule("    revoked: {certificates: [\"serial:xyz\"]}\n"), []string{`policy.yaml:8:`, "is not hex"}},
		{"attestation type not a URI", rule("    require: {attestations: [slsaprovenance1]}\n"),
			[]string{`policy.yaml:8:`, `predicate type "slsaprovenance1" is not an absolute URI`}},
		{"unknown format", rule("    require: {formats: [cosgin]}\n"), []string{`policy.yaml:8:`, `unknown format "cosgin"`, `did you mean "cosign"?`}},
		{"key reference without loader", strings.Replace(rule(""), "keys/release.pub", `"pkcs11:token=t;object=k"`, 1),
			[]string{`policy.yaml:7:`, "key references need a key loader"}},
		{"duplicate rule names", rule("  - name: prod\n    scopes: [\"*\"]\n    level: audit\n"),
			[]string{`policy.yaml:8: error: rule "prod": name already used by the rule at ` + filepath.Join(f.dir, "policy.yaml") + `:4`}},
		{"missing level and scopes", head + "  - name: prod\n", []string{"missing level", "missing scopes"}},
		{"signing rules in a trust policy", rule("signing: []\n"), []string{"kind TrustPolicy holds no signing rules"}},
		{"two documents", rule("---\napiVersion: signet.dev/v1\n"), []string{"one YAML document"}},
		{"merge key", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - <<: {key: x}\n", []string{"merge keys"}},
		{"PIN in signing key", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: \"pkcs11:token=t;object=k?pin-value=1234\"\n    scopes: [\"r.io/a/*\"]\n    formats: [cosign]\n",
			[]string{`policy.yaml:4:`, "PINs never belong in a policy"}},
		{"signing rule without formats", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: file:k.key\n    scopes: [\"r.io/a/*\"]\n    formats: []\n",
			[]string{`policy.yaml:6:`, "formats: empty list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseText(t, f.dir, tt.text)
			if err == nil {
				t.Fatalf("Parse() = nil error; want %q", tt.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse() error %T; want *Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse() = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestParseReportsAll checks that one run reports every problem, in line
// order, so a user fixes a file in one pass.
func TestParseReportsAll(t *testing.T) {
	dir := t.TempDir()
	text := dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: a
		    scopes: ["Bad/Scope"]
		    level: enforced
		  - name: b
		    scopes: ["*"]
		    level: audit
		    keys: [nope.pub]
		`)
	_, err := parseText(t, dir, text)
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Parse() = %v; want *Error", err)
	}
	var lines []int
	for _, p := range pe.Problems {
		lines = append(lines, p.Pos.Line)
	}
	if !slices.Equal(lines, []int{5, 6, 10}) {
		t.Errorf("problem lines = %v; want [5 6 10]\n%v", lines, err)
	}
}

func TestKeyLoader(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	var asked []string
	loader := func(_ context.Context, ref string) (crypto.PublicKey, error) {
		asked = append(asked, ref)
		if ref == "pkcs11:token=t;object=missing" {
			return nil, errors.New("no such key")
		}
		return k.Public(), nil
	}
	text := dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: hsm
		    scopes: ["*"]
		    level: enforce
		    keys: ["pkcs11:token=t;object=k"]
		`)
	p := mustParse(t, dir, text, WithKeyLoader(loader))
	if got := p.Trust[0].Keys(); len(got) != 1 || fingerprint(t, got[0]) != fingerprint(t, k.Public()) {
		t.Errorf("Keys() = %v; want the loaded key", got)
	}
	_, err := parseText(t, dir, strings.Replace(text, "object=k", "object=missing", 1), WithKeyLoader(loader))
	if err == nil || !strings.Contains(err.Error(), "policy.yaml:7:") || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("Parse(missing key) = %v; want the loader's error at line 7", err)
	}
	if len(asked) != 2 {
		t.Errorf("loader called %d times; want 2", len(asked))
	}
}

func TestWithFormats(t *testing.T) {
	text := "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: file:k\n    scopes: [\"r.io/a/*\"]\n    formats: [bundle]\n"
	if _, err := parseText(t, t.TempDir(), text); err == nil {
		t.Error("Parse(format bundle) = nil error; want unknown format")
	}
	if _, err := parseText(t, t.TempDir(), text, WithFormats("cosign", "bundle")); err != nil {
		t.Errorf("Parse(format bundle, WithFormats(bundle)) = %v", err)
	}
}

func TestWithTypeResolver(t *testing.T) {
	text := dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: a
		    scopes: ["*"]
		    level: audit
		    require: {attestations: [slsaprovenance1, "https://example.com/x"]}
		`)
	resolve := func(s string) (string, error) {
		if s == "slsaprovenance1" {
			return "https://slsa.dev/provenance/v1", nil
		}
		if strings.HasPrefix(s, "https://") {
			return s, nil
		}
		return "", fmt.Errorf("unknown type %q", s)
	}
	p := mustParse(t, t.TempDir(), text, WithTypeResolver(resolve))
	if got := p.Trust[0].RequiredAttestations; !slices.Equal(got, []string{"https://slsa.dev/provenance/v1", "https://example.com/x"}) {
		t.Errorf("RequiredAttestations = %q", got)
	}
}

func TestLoad(t *testing.T) {
	f := newFixture(t)
	path := writeFile(t, f.dir, "policy.yaml", []byte(fullYAML))
	p, err := Load(context.Background(), path)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if p.File != path {
		t.Errorf("File = %q; want %q", p.File, path)
	}
	if _, err := Load(context.Background(), filepath.Join(f.dir, "nope.yaml")); err == nil {
		t.Error("Load(missing) = nil error")
	}
	if _, err := Load(context.Background(), f.dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load(directory) = %v; want not a regular file", err)
	}
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		in      string
		attrs   []string // NAME=value
		wantErr string
	}{
		{in: "*", attrs: nil},
		{in: "CN=release-signer, O=Acme, C=US", attrs: []string{"CN=release-signer", "O=Acme", "C=US"}},
		{in: "x509.subject: C=US, ST=WA, O=acme", attrs: []string{"C=US", "ST=WA", "O=acme"}},
		{in: `CN=a\, b, O=x\+y`, attrs: []string{"CN=a, b", "O=x+y"}},
		{in: `cn=lower`, attrs: []string{"CN=lower"}},
		{in: "2.5.4.3=oid", attrs: []string{"2.5.4.3=oid"}},
		{in: `CN=\41cme`, attrs: []string{"CN=Acme"}},
		{in: "", wantErr: "empty identity"},
		{in: "CN", wantErr: "is not TYPE=value"},
		{in: "CN=", wantErr: "empty value"},
		{in: "FOO=bar", wantErr: "unknown attribute type"},
		{in: `CN=a\`, wantErr: "lone backslash"},
		{in: "CN=Müller, O=Acme", attrs: []string{"CN=Müller", "O=Acme"}},
		{in: `CN=M\C3\BCller`, attrs: []string{"CN=Müller"}},
		{in: `CN=M\C3ller`, wantErr: "not valid UTF-8"},
	}
	for _, tt := range tests {
		id, err := parseIdentity(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseIdentity(%q) = %v; want error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseIdentity(%q) = %v", tt.in, err)
			continue
		}
		var got []string
		for _, a := range id.attrs {
			got = append(got, fmt.Sprintf("%s=%s", a.name, a.value))
		}
		if !slices.Equal(got, tt.attrs) {
			t.Errorf("parseIdentity(%q) = %q; want %q", tt.in, got, tt.attrs)
		}
	}
}

// Identity values are matched by character: a multi-byte character must
// not turn into one Latin-1 character per byte ("ü" into "Ã¼").
func TestIdentityNonASCII(t *testing.T) {
	subject := func(cn string) pkix.Name {
		return pkix.Name{Names: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn}, {Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme"}}}
	}
	tests := []struct {
		identity string
		cn       string
		want     bool
	}{
		{"CN=Müller, O=Acme", "Müller", true},
		{"CN=Müller, O=Acme", "MÃ¼ller", false},
		{"CN=Müller, O=Acme", "Muller", false},
		{`CN=M\C3\BCller`, "Müller", true},
		{"CN=Jörg *", "Jörg Release", true},
		{"CN=Jörg *", "JÃ¶rg Release", false},
		{"CN=*ü*", "Müller", true},
		{"CN=M?ller", "Müller", false},
		{"CN=日本*", "日本語 signer", true},
		{"CN=日本*", "日本", true},
		{"CN=日本*", "日", false},
		{`CN=a.b\*`, "a.b*", true},
		{`CN=a.b\*`, "axb*", false},
	}
	for _, tt := range tests {
		id, err := parseIdentity(tt.identity)
		if err != nil {
			t.Errorf("parseIdentity(%q) = %v", tt.identity, err)
			continue
		}
		if got := id.matches(subject(tt.cn)); got != tt.want {
			t.Errorf("identity %q (regexp %s) matches CN=%q: %v; want %v", tt.identity, id.attrs[0].re, tt.cn, got, tt.want)
		}
	}
}

func TestFingerprintPEM(t *testing.T) {
	p := newPKI(t, "Acme")
	k := newKey(t)
	data := append(pubPEM(t, k.Public()), certPEM(p.leaf)...)
	fps, err := FingerprintPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Fingerprint{
		{Key: fingerprint(t, k.Public())},
		{Key: fingerprint(t, p.leaf.PublicKey), Cert: CertFingerprint(p.leaf), Subject: p.leaf.Subject.String()},
	}
	if !slices.Equal(fps, want) {
		t.Errorf("FingerprintPEM() = %+v; want %+v", fps, want)
	}
	if _, err := FingerprintPEM(privPEM(t, k)); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("FingerprintPEM(private key) = %v; want a refusal", err)
	}
	if _, err := FingerprintPEM([]byte("nothing")); err == nil {
		t.Error("FingerprintPEM(no PEM) = nil error")
	}
}

// TestParseYAMLSyntaxLine: a YAML syntax error names the policy line where
// the parser stopped, counted from 1 (yaml.v3 counts a parser error's line
// from 0).
func TestParseYAMLSyntaxLine(t *testing.T) {
	// Line 5 opens a list it does not close.
	text := "apiVersion: signet.dev/v1\nkind: TrustPolicy\ntrust:\n  - name: prod\n    scopes: [\"r.io/team/*\"\n    level: enforce\n"
	_, err := Parse(context.Background(), []byte(text), "policy.yaml")
	want := "policy.yaml:5: error: invalid YAML: did not find expected ',' or ']'"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Parse() = %v; want %q...", err, want)
	}
}
