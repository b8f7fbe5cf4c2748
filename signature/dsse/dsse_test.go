package dsse_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/dsse"
)

const inToto = "application/vnd.in-toto+json"

func TestPAE(t *testing.T) {
	tests := []struct {
		typ, body, want string
	}{
		// The DSSE specification's own example.
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{inToto, "", "DSSEv1 28 application/vnd.in-toto+json 0 "},
		{"", "{}", "DSSEv1 0  2 {}"},
		// Lengths count bytes, not runes.
		{"t", "é", "DSSEv1 1 t 2 é"},
	}
	for _, tt := range tests {
		if got := string(dsse.PAE(tt.typ, []byte(tt.body))); got != tt.want {
			t.Errorf("PAE(%q, %q) = %q; want %q", tt.typ, tt.body, got, tt.want)
		}
	}
}

func TestEnvelopeJSON(t *testing.T) {
	key := testenv.NewKey(t)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	env, err := dsse.Sign(context.Background(), key, crypto.SHA256, inToto, payload)
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
		"protojson":     `{"payload":"` + env.Payload + `","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"` + sig + `"}]}`,
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			e, err := dsse.Parse([]byte(form))
			if err != nil {
				t.Fatalf("Parse() = %v", err)
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

// TestProtoEnvelopeJSON pins the layout sigstore bundles carry: protojson's
// field order, keyid only when set.
func TestProtoEnvelopeJSON(t *testing.T) {
	env := dsse.Envelope{PayloadType: inToto, Payload: "e30=", Signatures: []dsse.Signature{{Sig: "AA=="}, {Sig: "AQ==", KeyID: "k"}}}
	b, err := json.Marshal(struct {
		E *dsse.ProtoEnvelope `json:"dsseEnvelope"`
	}{&dsse.ProtoEnvelope{Envelope: env}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="},{"sig":"AQ==","keyid":"k"}]}}`
	if string(b) != want {
		t.Errorf("ProtoEnvelope JSON =\n%s\nwant\n%s", b, want)
	}
	var back dsse.ProtoEnvelope
	if err := json.Unmarshal(b[len(`{"dsseEnvelope":`):len(b)-1], &back); err != nil {
		t.Fatal(err)
	}
	if back.Payload != env.Payload || back.PayloadType != env.PayloadType || len(back.Signatures) != 2 || back.Signatures[1] != env.Signatures[1] {
		t.Errorf("ProtoEnvelope round trip = %+v; want %+v", back.Envelope, env)
	}
}

func TestVerifyRejects(t *testing.T) {
	key, other := testenv.NewKey(t), testenv.NewKey(t)
	env, err := dsse.Sign(context.Background(), key, crypto.SHA256, inToto, []byte(`{"a":1}`))
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
	garbled := *env
	garbled.Signatures = []dsse.Signature{{Sig: "!!"}}

	tests := []struct {
		name string
		env  *dsse.Envelope
		keys []crypto.PublicKey
		want error
	}{
		{"other key", env, []crypto.PublicKey{other.Public()}, signature.ErrMismatch},
		{"changed payload", &changed, keys, signature.ErrMismatch},
		{"changed payload type", &retyped, keys, signature.ErrMismatch},
		{"no signatures", &unsigned, keys, dsse.ErrNoSignatures},
		{"no keys", env, nil, signature.ErrMismatch},
		{"signature not base64", &garbled, keys, signature.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.env.Verify(tt.keys); !errors.Is(err, tt.want) {
				t.Errorf("Verify() = %v; want %v", err, tt.want)
			}
		})
	}
	for _, bad := range []string{`{`, `{"payload":"e30="}`, `{"payloadType":"x","payload":"!!"}`} {
		if _, err := dsse.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) = nil error", bad)
		}
	}
}

// TestHashes checks the hashes tried per key: the curve's own (cosign v3.1)
// and SHA-256 (signet's .att envelopes, cosign v3.0 and earlier).
func TestHashes(t *testing.T) {
	tests := []struct {
		key  testenv.Key
		want []crypto.Hash
	}{
		{testenv.NewKey(t), []crypto.Hash{crypto.SHA256}},
		{testenv.NewECKey(t, elliptic.P384()), []crypto.Hash{crypto.SHA384, crypto.SHA256}},
		{testenv.NewECKey(t, elliptic.P521()), []crypto.Hash{crypto.SHA512, crypto.SHA256}},
		{testenv.NewRSAKey(t, 2048), []crypto.Hash{crypto.SHA256}},
	}
	for _, tt := range tests {
		got := dsse.Hashes(tt.key.Public())
		if !slices.Equal(got, tt.want) {
			t.Errorf("Hashes(%T) = %v; want %v", tt.key.Signer, got, tt.want)
		}
		// Both a SHA-256 and a curve-hash signature verify.
		for _, h := range tt.want {
			env, err := dsse.Sign(context.Background(), tt.key, h, inToto, []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.Verify([]crypto.PublicKey{tt.key.Public()}); err != nil {
				t.Errorf("Verify(%T signed with %v) = %v", tt.key.Signer, h, err)
			}
		}
	}
}
