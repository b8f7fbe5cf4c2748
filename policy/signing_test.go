package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckSigning(t *testing.T) {
	dir := t.TempDir()
	ci := newKey(t)
	p := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: SigningPolicy
		signing:
		  - name: prod
		    key: "pkcs11:token=release;object=prod-key"
		    scopes: ["127.0.0.1:5000/prod/*"]
		    formats: [cosign, notation]
		  - name: dev
		    key: "pkcs11:token=release;object=dev-key"
		    scopes: ["127.0.0.1:5000/dev/*"]
		    formats: [cosign]
		  - name: ci
		    key: "`+fingerprint(t, ci.Public())+`"
		    scopes: ["127.0.0.1:5000/ci/**", "127.0.0.1:5000/shared/*"]
		    formats: [cosign]
		  - name: ci-notation
		    key: "`+fingerprint(t, ci.Public())+`"
		    scopes: ["127.0.0.1:5000/shared/*"]
		    formats: [notation]
		  - key: file:keys/local.key
		    scopes: ["localhost:5000/scratch/*"]
		    formats: [sigstore-bundle]
		`))
	prodKey := "pkcs11:token=release;object=prod-key?module-path=/usr/lib/softhsm/libsofthsm2.so"
	devKey := "pkcs11:token=release;object=dev-key"
	tests := []struct {
		name   string
		req    SigningRequest
		denial Denial
		msg    string
	}{
		{name: "allowed", req: SigningRequest{Key: prodKey, Repo: "127.0.0.1:5000/prod/app:v1", Formats: []string{"cosign", "notation"}}},
		{name: "allowed by a URI with more attributes", req: SigningRequest{Key: "pkcs11:token=release;id=%01;object=prod-key", Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}}},
		{name: "wrong scope", req: SigningRequest{Key: devKey, Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyScope, msg: `key pkcs11:token=release;object=dev-key may not sign 127.0.0.1:5000/prod/app: its rule "dev" (` +
				filepath.Join(dir, "policy.yaml") + `:8) allows only 127.0.0.1:5000/dev/*`},
		{name: "wrong format", req: SigningRequest{Key: devKey, Repo: "127.0.0.1:5000/dev/app", Formats: []string{"cosign", "notation"}},
			denial: DenyFormat, msg: `may not sign 127.0.0.1:5000/dev/app in notation: its rule "dev" (` + filepath.Join(dir, "policy.yaml") + `:8) allows only cosign`},
		{name: "unknown key", req: SigningRequest{Key: "pkcs11:token=release;object=other", Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyUnknownKey, msg: "key pkcs11:token=release;object=other may not sign 127.0.0.1:5000/prod/app: no signing rule in"},
		{name: "PIN never shown", req: SigningRequest{Key: "pkcs11:token=release;object=other?pin-value=123456", Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyUnknownKey, msg: "key pkcs11:token=release;object=other may not sign"},
		// hsm.ParseURI ends a pin-value at "&" only: ";", "?" and quotes
		// in it are part of the PIN, and so is what follows a pin-value in
		// the path, where it does not belong.
		{name: "PIN with a semicolon", req: SigningRequest{Key: "pkcs11:token=release;object=other?pin-value=qq7;zz9&module-path=/m.so", Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyUnknownKey, msg: "key pkcs11:token=release;object=other?module-path=/m.so may not sign"},
		{name: "PIN in the path", req: SigningRequest{Key: "pkcs11:token=release;object=other;pin-value=qq7;zz9?x=\"zz9", Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyUnknownKey, msg: "key pkcs11:token=release;object=other may not sign"},
		{name: "scheme in capitals", req: SigningRequest{Key: "PKCS11:token=release;object=other?pin-value=qq7'zz9", Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyUnknownKey, msg: "key PKCS11:token=release;object=other may not sign"},
		{name: "fingerprint rule", req: SigningRequest{Key: "file:/tmp/ci.key", Public: ci.Public(), Repo: "127.0.0.1:5000/ci/a/b", Formats: []string{"cosign"}}},
		{name: "fingerprint rule without public key", req: SigningRequest{Key: "file:/tmp/ci.key", Repo: "127.0.0.1:5000/ci/a", Formats: []string{"cosign"}},
			denial: DenyUnknownKey, msg: "rules naming a key by fingerprint need its public key"},
		{name: "formats allowed by two rules together", req: SigningRequest{Key: "x", Public: ci.Public(), Repo: "127.0.0.1:5000/shared/base", Formats: []string{"cosign", "notation"}}},
		{name: "two rules, neither covers", req: SigningRequest{Key: "x", Public: ci.Public(), Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}},
			denial: DenyScope, msg: `its rules allow only rule "ci"`},
		{name: "file key relative to the policy", req: SigningRequest{Key: "file:" + filepath.Join(dir, "keys/local.key"), Repo: "localhost:5000/scratch/x", Formats: []string{"sigstore-bundle"}}},
		{name: "file key, other file", req: SigningRequest{Key: "file:/elsewhere/local.key", Repo: "localhost:5000/scratch/x", Formats: []string{"sigstore-bundle"}},
			denial: DenyUnknownKey},
		{name: "bad repository", req: SigningRequest{Key: devKey, Repo: "UPPER/Case", Formats: []string{"cosign"}}, denial: DenyBadRepository},
		{name: "source prefixes the message", req: SigningRequest{Key: devKey, Repo: "127.0.0.1:5000/prod/app", Formats: []string{"cosign"}, Source: "catalog.yaml:12"},
			denial: DenyScope, msg: "catalog.yaml:12: key pkcs11:token=release;object=dev-key may not sign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckSigning(tt.req)
			if tt.denial == "" {
				if err != nil {
					t.Fatalf("CheckSigning() = %v; want nil", err)
				}
				return
			}
			var se *SigningError
			if !errors.As(err, &se) {
				t.Fatalf("CheckSigning() = %v; want *SigningError", err)
			}
			if se.Denial != tt.denial {
				t.Errorf("Denial = %s; want %s (%v)", se.Denial, tt.denial, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("CheckSigning() = %v\nwant it to contain %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "123456") || strings.Contains(err.Error(), "qq7") || strings.Contains(err.Error(), "zz9") ||
				strings.Contains(err.Error(), "pin-value") {
				t.Errorf("CheckSigning() = %v; leaks the PIN", err)
			}
		})
	}
}

func TestCheckSigningPlan(t *testing.T) {
	p := mustParse(t, t.TempDir(), dedent(`
		apiVersion: signet.dev/v1
		kind: SigningPolicy
		signing:
		  - key: "pkcs11:token=release;object=dev-key"
		    scopes: ["127.0.0.1:5000/dev/*"]
		    formats: [cosign]
		`))
	key := "pkcs11:token=release;object=dev-key"
	reqs := []SigningRequest{
		{Key: key, Repo: "127.0.0.1:5000/dev/app:v1", Formats: []string{"cosign"}},
		{Key: key, Repo: "127.0.0.1:5000/prod/app:v1", Formats: []string{"cosign"}, Source: "argument 2"},
		{Key: key, Repo: "127.0.0.1:5000/prod/app:v1", Formats: []string{"cosign"}, Source: "argument 2"}, // a child of the same index
		{Key: key, Repo: "127.0.0.1:5000/dev/app:v1", Formats: []string{"notation"}, Source: "argument 3"},
	}
	err := p.CheckSigningPlan(reqs)
	var se *SigningErrors
	if !errors.As(err, &se) {
		t.Fatalf("CheckSigningPlan() = %v; want *SigningErrors", err)
	}
	if len(se.Errs) != 2 || se.Requests != 4 {
		t.Errorf("CheckSigningPlan() = %d refusals of %d; want 2 of 4:\n%v", len(se.Errs), se.Requests, err)
	}
	if !strings.HasPrefix(err.Error(), "signing policy ") || !strings.Contains(err.Error(), "forbids 2 of 4 signing requests") {
		t.Errorf("CheckSigningPlan() = %v", err)
	}
	var one *SigningError
	if !errors.As(err, &one) || one.Denial != DenyScope {
		t.Errorf("errors.As(*SigningError) = %v; want the first refusal", one)
	}
	if err := p.CheckSigningPlan(reqs[:1]); err != nil {
		t.Errorf("CheckSigningPlan(allowed) = %v", err)
	}
}

func TestCheckSigningWithoutRules(t *testing.T) {
	f := newFixture(t)
	p := mustParse(t, f.dir, fullYAML)
	p.Signing = nil
	err := p.CheckSigning(SigningRequest{Key: "file:k", Repo: "r.io/a/b", Formats: []string{"cosign"}})
	var se *SigningError
	if !errors.As(err, &se) || se.Denial != DenyNoRules {
		t.Errorf("CheckSigning(no rules) = %v; want DenyNoRules", err)
	}
}

func TestRedactKey(t *testing.T) {
	for in, want := range map[string]string{
		"pkcs11:token=a;object=b?pin-value=1234": "pkcs11:token=a;object=b",
		// A pin-value belongs in the query: in the path its PIN may be "1;object=b".
		"pkcs11:token=a;pin-value=1;object=b":                   "pkcs11:token=a",
		"pkcs11:token=a?module-path=/m.so&pin-source=file:/pin": "pkcs11:token=a?module-path=/m.so",
		"pkcs11:token=a?PIN-VALUE=9&module-path=/m.so":          "pkcs11:token=a?module-path=/m.so",
		"pkcs11:token=a?pin-value=9;8'7&module-path=/m.so":      "pkcs11:token=a?module-path=/m.so",
		"pkcs11:token=a;pin-value=9;8?7=6&module-path=/m.so":    "pkcs11:token=a?module-path=/m.so",
		"PKCS11:token=a?module-path=/m.so&pin-value=9":          "PKCS11:token=a?module-path=/m.so",
		"file:/keys/a.key": "file:/keys/a.key",
	} {
		if got := redactKey(in); got != want {
			t.Errorf("redactKey(%q) = %q; want %q", in, got, want)
		}
	}
}
