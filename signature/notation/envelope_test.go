package notation_test

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/notation"
)

var testSubject = signature.Subject{
	Digest:    v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)},
	MediaType: "application/vnd.oci.image.manifest.v1+json",
	Size:      1234,
}

func signEnvelope(t testing.TB, p *pki, req notation.SignRequest) []byte {
	t.Helper()
	if req.Payload == nil {
		var err error
		if req.Payload, err = notation.NewPayload(testSubject, nil); err != nil {
			t.Fatal(err)
		}
	}
	if req.Chain == nil {
		req.Chain = p.chain
	}
	if req.SigningTime.IsZero() {
		req.SigningTime = time.Now()
	}
	env, err := notation.Sign(context.Background(), p.key, req)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return env
}

// TestEnvelopeLayout checks the bytes notation expects: the protected
// header's keys sorted with whole-second UTC times and the right crit, the
// algorithm from the key, raw r||s of the curve's size, x5c in standard
// base64 leaf to root, and no other top-level members.
func TestEnvelopeLayout(t *testing.T) {
	tests := []struct {
		name    string
		key     testenv.Key
		alg     string
		sigLen  int
		expiry  bool
		wantHdr string
	}{
		{"p256", testenv.NewECKey(t, elliptic.P256()), "ES256", 64, false,
			`{"alg":"ES256","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-02T03:04:05Z"}`},
		{"p384", testenv.NewECKey(t, elliptic.P384()), "ES384", 96, true,
			`{"alg":"ES384","crit":["io.cncf.notary.signingScheme","io.cncf.notary.expiry"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.expiry":"2025-01-03T03:04:05Z","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-01-02T03:04:05Z"}`},
		{"p521", testenv.NewECKey(t, elliptic.P521()), "ES512", 132, false, ""},
		{"rsa2048", testenv.NewRSAKey(t, 2048), "PS256", 256, false, ""},
	}
	// A signing time with a fraction and a zone, which must come out whole
	// and in UTC.
	at := time.Date(2025, 1, 2, 4, 4, 5, 999_000_000, time.FixedZone("CET", 3600))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t, tt.key, false)
			// Certificates valid now; the signing time is in the past.
			p.chain = backdate(t, p, at)
			req := notation.SignRequest{SigningTime: at, SigningAgent: "signet/test"}
			if tt.expiry {
				req.Expiry = at.Add(24 * time.Hour)
			}
			env := signEnvelope(t, p, req)
			var top map[string]json.RawMessage
			if err := json.Unmarshal(env, &top); err != nil {
				t.Fatal(err)
			}
			if len(top) != 4 || top["payload"] == nil || top["protected"] == nil || top["header"] == nil || top["signature"] == nil {
				t.Errorf("top-level members = %v; want payload, protected, header, signature", keys(top))
			}
			var w struct {
				Protected string `json:"protected"`
				Signature string `json:"signature"`
				Header    struct {
					X5c   []string `json:"x5c"`
					Agent string   `json:"io.cncf.notary.signingAgent"`
				} `json:"header"`
			}
			if err := json.Unmarshal(env, &w); err != nil {
				t.Fatal(err)
			}
			hdr, err := base64.RawURLEncoding.DecodeString(w.Protected)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantHdr != "" && string(hdr) != tt.wantHdr {
				t.Errorf("protected header =\n%s\nwant\n%s", hdr, tt.wantHdr)
			}
			if !strings.Contains(string(hdr), `"alg":"`+tt.alg+`"`) {
				t.Errorf("protected header %s; want alg %s", hdr, tt.alg)
			}
			sig, _ := base64.RawURLEncoding.DecodeString(w.Signature)
			if len(sig) != tt.sigLen {
				t.Errorf("signature is %d bytes; want %d", len(sig), tt.sigLen)
			}
			if len(w.Header.X5c) != len(p.chain) {
				t.Fatalf("x5c has %d certificates; want %d", len(w.Header.X5c), len(p.chain))
			}
			for i, s := range w.Header.X5c {
				der, err := base64.StdEncoding.DecodeString(s)
				if err != nil || string(der) != string(p.chain[i].Raw) {
					t.Errorf("x5c[%d] is not the standard base64 of chain[%d] (%v)", i, i, err)
				}
			}
			if w.Header.Agent != "signet/test" {
				t.Errorf("signing agent = %q", w.Header.Agent)
			}
			e, err := notation.ParseEnvelope(env)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Verify(); err != nil {
				t.Errorf("Verify() = %v", err)
			}
			if !e.Header.SigningTime.Equal(at.Truncate(time.Second)) {
				t.Errorf("signing time = %s; want %s", e.Header.SigningTime, at.Truncate(time.Second))
			}
		})
	}
}

// backdate returns a root and a leaf for p's key valid from an hour before
// at until a year from now, so that an envelope signed "at" verifies.
func backdate(t *testing.T, p *pki, at time.Time) []*x509.Certificate {
	t.Helper()
	rootKey := testenv.NewECKey(t, elliptic.P256())
	mk := func(tmpl, parent *x509.Certificate, pub any, signer testenv.Key) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	from, to := at.Add(-time.Hour), time.Now().Add(365*24*time.Hour)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subjectName("backdated root"), NotBefore: from, NotAfter: to,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := mk(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subjectName("backdated leaf"), NotBefore: from, NotAfter: to,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leaf := mk(leafTmpl, root, p.key.Public(), rootKey)
	return []*x509.Certificate{leaf, root}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSignRejects(t *testing.T) {
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	other := newPKI(t, testenv.NewECKey(t, elliptic.P256()), false)
	payload, _ := notation.NewPayload(testSubject, nil)
	now := time.Now()
	tests := []struct {
		name string
		req  notation.SignRequest
	}{
		{"no chain", notation.SignRequest{Payload: payload, SigningTime: now}},
		{"chain of another key", notation.SignRequest{Payload: payload, Chain: other.chain, SigningTime: now}},
		{"no root", notation.SignRequest{Payload: payload, Chain: p.chain[:1], SigningTime: now}},
		{"expiry before signing", notation.SignRequest{Payload: payload, Chain: p.chain, SigningTime: now, Expiry: now.Add(-time.Hour)}},
		{"payload not an object", notation.SignRequest{Payload: []byte(`[1]`), Chain: p.chain, SigningTime: now}},
		{"signing time outside the chain", notation.SignRequest{Payload: payload, Chain: p.chain, SigningTime: now.Add(-48 * time.Hour)}},
	}
	for _, tt := range tests {
		if _, err := notation.Sign(context.Background(), key, tt.req); err == nil {
			t.Errorf("Sign(%s) = nil error", tt.name)
		}
	}
}

// craft builds an envelope from an arbitrary protected header and payload,
// signed correctly with key: the way to test the verifier's own rules
// rather than signature checks.
func craft(t testing.TB, key testenv.Key, hdr map[string]any, payload []byte, chain []*x509.Certificate) []byte {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	protected := base64.RawURLEncoding.EncodeToString(h)
	pl := base64.RawURLEncoding.EncodeToString(payload)
	alg, err := notation.AlgorithmFor(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	der, err := signature.SignMessage(context.Background(), key, alg.Hash, []byte(protected+"."+pl))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signature.DERToRaw(der, signature.CurveSize(key.Public()))
	if err != nil {
		t.Fatal(err)
	}
	x5c := make([][]byte, len(chain))
	for i, c := range chain {
		x5c[i] = c.Raw
	}
	b, err := json.Marshal(map[string]any{"payload": pl, "protected": protected, "signature": base64.RawURLEncoding.EncodeToString(raw),
		"header": map[string]any{"x5c": x5c}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func baseHeader() map[string]any {
	return map[string]any{
		"alg": "ES256", "cty": notation.PayloadContentType, "crit": []string{"io.cncf.notary.signingScheme"},
		"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": time.Now().UTC().Format(time.RFC3339),
	}
}

// TestEnvelopeVerifyRejects: each integrity rule, broken alone, fails with
// the matching sentinel.
func TestEnvelopeVerifyRejects(t *testing.T) {
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	payload, _ := notation.NewPayload(testSubject, nil)
	with := func(k string, v any) map[string]any {
		h := baseHeader()
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	selfSigned := newPKI(t, key, false).ca.Cert // a CA, not a code-signing leaf
	tests := []struct {
		name    string
		env     []byte
		parse   bool // fails at ParseEnvelope
		wantErr error
	}{
		{"alg of another key size", craft(t, key, with("alg", "ES384"), payload, p.chain), false, notation.ErrMalformed},
		{"alg RSA for an EC key", craft(t, key, with("alg", "PS256"), payload, p.chain), false, notation.ErrMalformed},
		{"no crit", craft(t, key, with("crit", nil), payload, p.chain), false, notation.ErrMalformed},
		{"crit without the scheme", craft(t, key, with("crit", []string{"io.cncf.notary.signingTime"}), payload, p.chain), false, notation.ErrMalformed},
		{"expiry not critical", craft(t, key, with("io.cncf.notary.expiry", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), payload, p.chain), false, notation.ErrMalformed},
		{"unknown critical header", craft(t, key, func() map[string]any {
			h := with("io.cncf.notary.verificationPlugin", "x")
			h["crit"] = []string{"io.cncf.notary.signingScheme", "io.cncf.notary.verificationPlugin"}
			return h
		}(), payload, p.chain), false, notation.ErrMalformed},
		{"critical header absent", craft(t, key, with("crit", []string{"io.cncf.notary.signingScheme", "x-absent"}), payload, p.chain), false, notation.ErrMalformed},
		{"wrong cty", craft(t, key, with("cty", "application/json"), payload, p.chain), false, notation.ErrMalformed},
		{"no signing time", craft(t, key, with("io.cncf.notary.signingTime", nil), payload, p.chain), false, notation.ErrMalformed},
		{"unknown scheme", craft(t, key, with("io.cncf.notary.signingScheme", "notary.v1"), payload, p.chain), true, notation.ErrMalformed},
		{"payload not an object", craft(t, key, baseHeader(), []byte(`"x"`), p.chain), false, notation.ErrMalformed},
		{"chain without root", craft(t, key, baseHeader(), payload, p.chain[:1]), false, notation.ErrBadChain},
		{"CA as signing certificate", craft(t, key, baseHeader(), payload, []*x509.Certificate{selfSigned}), false, notation.ErrBadChain},
		{"not JSON", []byte("{"), true, notation.ErrMalformed},
		{"general serialization", []byte(`{"payload":"e30","signatures":[]}`), true, notation.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := notation.ParseEnvelope(tt.env)
			if tt.parse {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseEnvelope() = %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEnvelope() = %v", err)
			}
			if err := e.Verify(); !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify() = %v; want %v", err, tt.wantErr)
			}
		})
	}

	// Tampering: any change to the signed parts breaks the signature.
	env := signEnvelope(t, p, notation.SignRequest{})
	var w map[string]any
	json.Unmarshal(env, &w)
	other, _ := notation.NewPayload(signature.Subject{Digest: testSubject.Digest, MediaType: testSubject.MediaType, Size: 999}, nil)
	w["payload"] = base64.RawURLEncoding.EncodeToString(other)
	tampered, _ := json.Marshal(w)
	e, err := notation.ParseEnvelope(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(); !errors.Is(err, notation.ErrTampered) {
		t.Errorf("Verify(tampered payload) = %v; want ErrTampered", err)
	}
}
