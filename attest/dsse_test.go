package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/signet-project/signet/signature"
)

// memKey adapts an in-memory crypto.Signer to signature.Signer for unit
// tests of encodings; the integration tests sign with hsm keys.
type memKey struct{ crypto.Signer }

func (m memKey) SignDigest(_ context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return m.Sign(rand.Reader, d, o)
}

func newMemKey(t testing.TB) memKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return memKey{k}
}

func TestPAE(t *testing.T) {
	tests := []struct {
		typ, body, want string
	}{
		// The DSSE specification's own example.
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{PayloadType, "", "DSSEv1 28 application/vnd.in-toto+json 0 "},
		{"", "{}", "DSSEv1 0  2 {}"},
		// Lengths count bytes, not runes.
		{"t", "é", "DSSEv1 1 t 2 é"},
	}
	for _, tt := range tests {
		if got := string(PAE(tt.typ, []byte(tt.body))); got != tt.want {
			t.Errorf("PAE(%q, %q) = %q; want %q", tt.typ, tt.body, got, tt.want)
		}
	}
}

func TestEnvelopeJSON(t *testing.T) {
	key := newMemKey(t)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	env, err := SignEnvelope(context.Background(), key, PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	// cosign v2's form, field order included.
	wantPrefix := `{"payloadType":"application/vnd.in-toto+json","payload":"` + base64.StdEncoding.EncodeToString(payload) + `","signatures":[{"keyid":"","sig":"`
	if !strings.HasPrefix(string(b), wantPrefix) || !strings.HasSuffix(string(b), `"}]}`) {
		t.Errorf("envelope JSON = %s; want prefix %s", b, wantPrefix)
	}

	// cosign v3 omits keyid; a keyid of any value is a hint only.
	sig := env.Signatures[0].Sig
	forms := map[string]string{
		"keyid empty":   string(b),
		"keyid omitted": `{"payloadType":"application/vnd.in-toto+json","payload":"` + env.Payload + `","signatures":[{"sig":"` + sig + `"}]}`,
		"keyid foreign": `{"payloadType":"application/vnd.in-toto+json","payload":"` + env.Payload + `","signatures":[{"keyid":"SHA256:elsewhere","sig":"` + sig + `"}]}`,
		"url base64":    `{"payloadType":"application/vnd.in-toto+json","payload":"` + base64.RawURLEncoding.EncodeToString(payload) + `","signatures":[{"sig":"` + sig + `"}]}`,
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			e, err := ParseEnvelope([]byte(form))
			if err != nil {
				t.Fatalf("ParseEnvelope() = %v", err)
			}
			got, err := e.Verify([]crypto.PublicKey{key.Public()})
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if string(got) != string(payload) {
				t.Errorf("Verify() payload = %s; want %s", got, payload)
			}
		})
	}
}

func TestEnvelopeVerifyRejects(t *testing.T) {
	key, other := newMemKey(t), newMemKey(t)
	env, err := SignEnvelope(context.Background(), key, PayloadType, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	keys := []crypto.PublicKey{key.Public()}

	changed := *env
	changed.Payload = base64.StdEncoding.EncodeToString([]byte(`{"a":2}`))
	retyped := *env
	retyped.PayloadType = "application/json" // PAE binds the type too
	unsigned := *env
	unsigned.Signatures = nil

	tests := []struct {
		name string
		env  *Envelope
		keys []crypto.PublicKey
		want error
	}{
		{"other key", env, []crypto.PublicKey{other.Public()}, signature.ErrMismatch},
		{"changed payload", &changed, keys, signature.ErrMismatch},
		{"changed payload type", &retyped, keys, signature.ErrMismatch},
		{"no signatures", &unsigned, keys, ErrNoSignatures},
		{"no keys", env, nil, signature.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.env.Verify(tt.keys); !errors.Is(err, tt.want) {
				t.Errorf("Verify() = %v; want %v", err, tt.want)
			}
		})
	}
	for _, bad := range []string{`{`, `{"payload":"e30="}`, `{"payloadType":"x","payload":"!!"}`} {
		if _, err := ParseEnvelope([]byte(bad)); err == nil {
			t.Errorf("ParseEnvelope(%s) = nil error", bad)
		}
	}
}

// BenchmarkSeal measures building, signing and encoding one provenance
// attestation with an in-memory P-256 key (the HSM's share is measured in
// hsm's own benchmarks).
func BenchmarkSeal(b *testing.B) {
	key := newMemKey(b)
	s := testSubject(b)
	f, err := NewFormat(nil, key, Spec{Type: SLSAProvenanceV1}, WithOverrides(Overrides{BuilderID: "https://ci.example/b", SourceURI: "git+https://example.com/app@refs/heads/main"}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := f.Statement(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.seal(ctx, s, st); err != nil {
			b.Fatal(err)
		}
	}
}
