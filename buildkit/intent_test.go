package buildkit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseIntent(t *testing.T) {
	const pin = "s3cret-42"
	tests := []struct {
		name       string
		dockerfile string
		args       map[string]string
		want       *SignRequest // Dockerfile and Origins are not compared
		wantErr    string
	}{
		{name: "none", dockerfile: "# syntax=x/y\nFROM scratch\n"},
		{name: "other args", dockerfile: "FROM scratch\n", args: map[string]string{"VERSION": "1"}},
		{
			name:       "lines",
			dockerfile: "# syntax=x/y\n# signet:formats=cosign, notation\n#signet: attest = provenance\n  # signet:key=pkcs11:token=t;object=k\nFROM scratch\n",
			want:       &SignRequest{Formats: []string{"cosign", "notation"}, Attest: []string{"provenance"}, Key: "pkcs11:token=t;object=k"},
		},
		{
			name:       "default format",
			dockerfile: "# signet:key=/keys/release.key\nFROM scratch\n",
			want:       &SignRequest{Formats: []string{"cosign"}, Key: "/keys/release.key"},
		},
		{
			name:       "build args win",
			dockerfile: "# signet:formats=notation\nFROM scratch\n",
			args:       map[string]string{ArgFormats: "cosign", ArgRepository: "127.0.0.1:5000/app", ArgKey: ""},
			want:       &SignRequest{Formats: []string{"cosign"}, Repository: "127.0.0.1:5000/app"},
		},
		{name: "pin in line", dockerfile: "# signet:key=pkcs11:token=t;object=k?pin-value=" + pin + "\n", wantErr: "Dockerfile:1: carries a PIN"},
		{name: "pin in arg", dockerfile: "FROM scratch\n", args: map[string]string{ArgKey: "pkcs11:object=k?PIN-VALUE=" + pin}, wantErr: "build-arg:SIGNET_KEY: carries a PIN"},
		{name: "pin in unknown arg", dockerfile: "FROM scratch\n", args: map[string]string{"SIGNET_PIN": "pin-value=" + pin}, wantErr: "build-arg:SIGNET_PIN: carries a PIN"},
		{name: "pin source", dockerfile: "# signet:key=pkcs11:object=k?pin-source=file:/p\n", wantErr: "pin-source"},
		{name: "unknown field", dockerfile: "FROM scratch\n# signet:format=cosign\n", wantErr: `Dockerfile:2: unknown signet field "format"`},
		{name: "no equals", dockerfile: "# signet:cosign\n", wantErr: "Dockerfile:1: want `# signet:NAME=VALUE`"},
		{name: "repeated", dockerfile: "# signet:formats=cosign\n# signet:formats=notation\n", wantErr: "already set at Dockerfile:1"},
		{name: "unknown format", dockerfile: "# signet:formats=cosign,gpg\n", wantErr: `unknown value "gpg"`},
		{name: "twice", dockerfile: "# signet:formats=cosign,cosign\n", wantErr: `names "cosign" twice`},
		{name: "unknown attest", dockerfile: "# signet:attest=sbom\n", wantErr: `unknown value "sbom"`},
		{name: "unknown arg", dockerfile: "FROM scratch\n", args: map[string]string{"SIGNET_FORMAT": "cosign"}, wantErr: "build-arg:SIGNET_FORMAT: unknown signet build arg"},
		{name: "bad repository", dockerfile: "# signet:repository=Host/UPPER\n", wantErr: "repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIntent("Dockerfile", []byte(tt.dockerfile), tt.args)
			if tt.wantErr != "" {
				var ie *IntentError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ie) {
					t.Fatalf("ParseIntent() error = %v; want an *IntentError containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), pin) {
					t.Fatalf("ParseIntent() error %q repeats the PIN", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIntent() error = %v", err)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("ParseIntent() = %+v; want nil", got)
				}
				return
			}
			if got == nil || !got.Equal(tt.want) {
				t.Fatalf("ParseIntent() = %+v; want %+v", got, tt.want)
			}
			if got.Dockerfile.Name != "Dockerfile" || len(got.Dockerfile.Digest["sha256"]) != 64 {
				t.Errorf("Dockerfile = %+v; want its name and sha256", got.Dockerfile)
			}
		})
	}
}

func TestSignRequestRoundTrip(t *testing.T) {
	req, err := ParseIntent("Dockerfile", []byte("# signet:formats=cosign\n# signet:attest=provenance\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := req.Predicate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSignRequest(b)
	if err != nil {
		t.Fatalf("ParseSignRequest(%s) error = %v", b, err)
	}
	if !back.Equal(req) || back.Origins["formats"] != "Dockerfile:1" || back.Dockerfile.Digest["sha256"] != req.Dockerfile.Digest["sha256"] {
		t.Fatalf("ParseSignRequest(Predicate()) = %+v; want %+v", back, req)
	}
	for _, bad := range []string{`{}`, `{"formats":["gpg"]}`, `{"formats":["cosign"],"attest":["sbom"]}`, `{"formats":["cosign"],"key":"pkcs11:object=k?pin-value=1"}`, `[`} {
		if _, err := ParseSignRequest([]byte(bad)); err == nil {
			t.Errorf("ParseSignRequest(%s) = nil error; want one", bad)
		}
	}
}

// TestParseSignRequest: --pending honours only requests the frontend could
// have written. A request is read from a registry, so one written by hand
// must not reach further than a Dockerfile can (a PIN source, a key that
// is not one reference).
func TestParseSignRequest(t *testing.T) {
	tests := []struct {
		name      string
		predicate string
		// key, when set, is also given to ParseIntent as SIGNET_KEY: the
		// frontend must refuse it as well, or the two sides disagree.
		key     string
		wantErr string
	}{
		{name: "full", predicate: `{"formats":["cosign","notation"],"attest":["provenance"],"key":"pkcs11:token=t;object=k","repository":"127.0.0.1:5000/team/app"}`},
		{name: "key file", predicate: `{"formats":["sigstore-bundle"],"key":"/keys/release.key"}`},
		{name: "not JSON", predicate: `[`, wantErr: "decoding"},
		{name: "no formats", predicate: `{}`, wantErr: "no formats"},
		{name: "unknown format", predicate: `{"formats":["gpg"]}`, wantErr: `unknown format "gpg"`},
		{name: "empty format", predicate: `{"formats":["cosign",""]}`, wantErr: `unknown format ""`},
		{name: "format twice", predicate: `{"formats":["cosign","cosign"]}`, wantErr: `format "cosign" twice`},
		{name: "unknown attestation", predicate: `{"formats":["cosign"],"attest":["sbom"]}`, wantErr: `unknown attestation "sbom"`},
		{name: "attestation twice", predicate: `{"formats":["cosign"],"attest":["provenance","provenance"]}`, wantErr: `attestation "provenance" twice`},
		{name: "pin value", predicate: `{"formats":["cosign"],"key":"pkcs11:object=k?pin-value=1"}`, key: "pkcs11:object=k?pin-value=1", wantErr: "carries a PIN"},
		{
			name:      "pin source",
			predicate: `{"formats":["cosign"],"key":"pkcs11:token=release;object=prod?pin-source=file:/etc/signet/prod.pin"}`,
			key:       "pkcs11:token=release;object=prod?pin-source=file:/etc/signet/prod.pin", wantErr: "names a PIN source",
		},
		{name: "pin source upper case", predicate: `{"formats":["cosign"],"key":"pkcs11:object=k?PIN-SOURCE=file:/p"}`, key: "pkcs11:object=k?PIN-SOURCE=file:/p", wantErr: "names a PIN source"},
		{name: "space in key", predicate: `{"formats":["cosign"],"key":"key with space"}`, key: "key with space", wantErr: "white space"},
		{name: "tab in key", predicate: `{"formats":["cosign"],"key":"a\tb"}`, key: "a\tb", wantErr: "white space"},
		{name: "new line in key", predicate: `{"formats":["cosign"],"key":"pkcs11:object=k\nmodule-path=/tmp/x.so"}`, key: "pkcs11:object=k\nmodule-path=/tmp/x.so", wantErr: "white space"},
		{name: "key padded", predicate: `{"formats":["cosign"],"key":" /keys/release.key"}`, wantErr: "white space"},
		{name: "bad repository", predicate: `{"formats":["cosign"],"repository":"Host/UPPER"}`, wantErr: "repository"},
		{name: "repository not canonical", predicate: `{"formats":["cosign"],"repository":"ubuntu"}`, wantErr: "canonical form"},
		{name: "repository with tag", predicate: `{"formats":["cosign"],"repository":"127.0.0.1:5000/app:v1"}`, wantErr: "repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSignRequest([]byte(tt.predicate))
			if tt.wantErr == "" {
				if err != nil || got == nil {
					t.Fatalf("ParseSignRequest(%s) = %+v, %v; want a request", tt.predicate, got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseSignRequest(%s) = %+v, %v; want an error containing %q", tt.predicate, got, err, tt.wantErr)
			}
			if strings.Contains(tt.predicate, "pin-value=1") && strings.Contains(err.Error(), "pin-value=1") {
				t.Fatalf("ParseSignRequest() error %q repeats the PIN", err)
			}
			if tt.key != "" {
				if req, err := ParseIntent("Dockerfile", []byte("FROM scratch\n"), map[string]string{ArgKey: tt.key}); err == nil {
					t.Errorf("ParseIntent(SIGNET_KEY=%q) = %+v; the frontend writes a request --pending refuses", tt.key, req)
				}
			}
		})
	}
}

const testPolicy = `apiVersion: signet.dev/v1
kind: Policy
trust:
  - name: prod
    scopes: ["127.0.0.1:*/**"]
    keys: [keys/missing.pub]
signing:
  - name: release
    key: "pkcs11:token=release;object=prod"
    scopes: ["127.0.0.1:*/app", "registry.example/team/*"]
    formats: [cosign]
  - name: docs
    key: "pkcs11:token=docs;object=k"
    scopes: ["registry.example/docs/*"]
    formats: [cosign, notation]
`

func TestCheckPolicy(t *testing.T) {
	p, err := ParseSigningPolicy(context.Background(), "signet-policy/policy.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatalf("ParseSigningPolicy() error = %v (the trust rule's missing key file must not matter)", err)
	}
	tests := []struct {
		name    string
		req     SignRequest
		wantErr string
	}{
		{name: "allowed", req: SignRequest{Formats: []string{"cosign"}, Key: "pkcs11:token=release;object=prod", Repository: "127.0.0.1:5000/app"}},
		{name: "allowed without repository", req: SignRequest{Formats: []string{"cosign"}, Key: "pkcs11:token=release;object=prod"}},
		{name: "scope", req: SignRequest{Formats: []string{"cosign"}, Key: "pkcs11:token=release;object=prod", Repository: "127.0.0.1:5000/other"}, wantErr: "may not sign 127.0.0.1:5000/other"},
		{name: "format", req: SignRequest{Formats: []string{"cosign", "notation"}, Key: "pkcs11:token=release;object=prod", Repository: "registry.example/team/app"}, wantErr: "in notation"},
		{name: "format without repository", req: SignRequest{Formats: []string{"notation"}, Key: "pkcs11:token=release;object=prod"}, wantErr: "may sign only in cosign, not in notation"},
		{name: "unknown key", req: SignRequest{Formats: []string{"cosign"}, Key: "pkcs11:token=other;object=k"}, wantErr: "no signing rule names key pkcs11:token=other;object=k"},
		{name: "no key", req: SignRequest{Formats: []string{"cosign", "notation"}, Repository: "registry.example/docs/a"}},
		{name: "no key, format", req: SignRequest{Formats: []string{"sigstore-bundle"}}, wantErr: "no signing rule allows sigstore-bundle for any repository"},
		{name: "no key, scope", req: SignRequest{Formats: []string{"cosign"}, Repository: "quay.io/x/y"}, wantErr: "no signing rule covers quay.io/x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.CheckPolicy(p)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckPolicy() = %v; want nil", err)
				}
				return
			}
			var pe *PolicyError
			if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckPolicy() = %v; want a *PolicyError containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseSigningPolicy(t *testing.T) {
	ctx := context.Background()
	// A trust-only policy cannot vouch for a signing request.
	trustOnly := "apiVersion: signet.dev/v1\nkind: TrustPolicy\ntrust:\n  - name: a\n    scopes: ['*']\n    keys: [k.pub]\n"
	if _, err := ParseSigningPolicy(ctx, "p.yaml", []byte(trustOnly)); err == nil || !strings.Contains(err.Error(), "no signing rules") {
		t.Errorf("ParseSigningPolicy(trust only) error = %v; want one saying it has no signing rules", err)
	}
	// Line numbers survive the removal of the trust section.
	bad := strings.Replace(testPolicy, "formats: [cosign]\n", "formats: [cosign]\n    colour: blue\n", 1)
	_, err := ParseSigningPolicy(ctx, "p.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:12") {
		t.Errorf("ParseSigningPolicy(unknown field on line 12) error = %v; want it to cite p.yaml:12", err)
	}
	// JSON (a flow mapping) works too.
	js := `{"apiVersion": "signet.dev/v1", "kind": "Policy", "trust": [{"name": "a", "scopes": ["*"], "keys": ["k.pub"]}],
  "signing": [{"key": "pkcs11:token=t;object=k", "scopes": ["*"], "formats": ["cosign"]}]}`
	p, err := ParseSigningPolicy(ctx, "p.json", []byte(js))
	if err != nil {
		t.Fatalf("ParseSigningPolicy(JSON) error = %v", err)
	}
	if len(p.Signing) != 1 || !slices.Equal(p.Signing[0].Formats, []string{"cosign"}) {
		t.Fatalf("ParseSigningPolicy(JSON) signing = %+v", p.Signing)
	}
}

// FuzzParseIntent checks that no Dockerfile or build arg makes ParseIntent
// panic, and that a PIN never comes back in an error or a request.
func FuzzParseIntent(f *testing.F) {
	f.Add("# signet:formats=cosign\n# signet:key=pkcs11:object=k\nFROM scratch\n", "")
	f.Add("# signet:key=pkcs11:object=k?pin-value=PIN\n", "")
	f.Add("FROM scratch\n", "pkcs11:object=k?pin-value=PIN")
	f.Add("#signet:attest=provenance\n#signet:repository=127.0.0.1:5000/a\n", "x")
	f.Fuzz(func(t *testing.T, dockerfile, key string) {
		req, err := ParseIntent("Dockerfile", []byte(dockerfile), map[string]string{ArgKey: key})
		const pin = "pin-value="
		if err != nil {
			if strings.Contains(strings.ToLower(dockerfile+key), pin) && strings.Contains(strings.ToLower(err.Error()), pin+"p") {
				t.Fatalf("error %q repeats a PIN", err)
			}
			return
		}
		if req != nil && strings.Contains(strings.ToLower(req.Key), pin) {
			t.Fatalf("request key %q carries a PIN", req.Key)
		}
	})
}
