package notation_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/notation"
)

func storeRegistries(t *testing.T) map[string]*testenv.Registry {
	return map[string]*testenv.Registry{
		"ggcr":           testenv.MemRegistry(t, false),
		"ggcr-referrers": testenv.MemRegistry(t, true),
	}
}

// push stores env as a notation signature of s, bypassing Format (for
// signatures Format would never make).
func push(t *testing.T, reg *registry.Client, s signature.Subject, env []byte, chain []*x509.Certificate) {
	t.Helper()
	sm, err := notation.NewSignatureManifest(env, s, chain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := notation.NewStore(reg).Push(testCtx(t), s, sm); err != nil {
		t.Fatal(err)
	}
}

func TestSignVerifyIdempotent(t *testing.T) {
	for regName, tr := range storeRegistries(t) {
		t.Run(regName, func(t *testing.T) {
			ctx := testCtx(t)
			reg := newClient(t)
			testenv.SeedSingle(t, tr.Host, "app", "v1")
			s := subject(t, reg, tr.Host+"/app:v1")
			key := testenv.NewECKey(t, elliptic.P256())
			p := newPKI(t, key, false)
			f, err := notation.NewFormat(reg, key, []*x509.Certificate{p.chain[1], p.chain[0]}) // any order
			if err != nil {
				t.Fatal(err)
			}
			first, err := f.Sign(ctx, s)
			if err != nil || first.Skipped || first.Format != "notation" {
				t.Fatalf("Sign() = %+v, %v", first, err)
			}
			again, err := f.Sign(ctx, s)
			if err != nil || !again.Skipped || again.Digest != first.Digest {
				t.Fatalf("second Sign() = %+v, %v; want skipped naming %s", again, err, first.Digest)
			}
			// The same key with a new certificate is another signature.
			renewed, err := p.ca.IssueLeaf(key.Public(), notationLeaf("renewed"))
			if err != nil {
				t.Fatal(err)
			}
			f2, err := notation.NewFormat(reg, key, renewed)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := f2.Sign(ctx, s); err != nil || r.Skipped {
				t.Fatalf("Sign() with a renewed certificate = %+v, %v; want a new signature", r, err)
			}
			ds, err := notation.NewStore(reg).List(ctx, s)
			if err != nil || len(ds) != 2 {
				t.Fatalf("List() = %d, %v; want 2 signatures", len(ds), err)
			}
			got, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{p.root()}}).Verify(ctx, s)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if got.Payload.TargetArtifact.MediaType != s.MediaType || got.SigningAgent != "signet" {
				t.Errorf("Verify() = %+v", got)
			}
			// A bare key trusts signatures by that key, whatever its chain.
			if _, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
				t.Errorf("Verify(KeyTrust of the signer) = %v", err)
			}
		})
	}
}

// TestSignConcurrent: many workers signing one subject with one format
// leave one signature; many formats (keys) at once leave one each, none
// lost in the referrers index.
func TestSignConcurrent(t *testing.T) {
	const n = 8
	for regName, tr := range map[string]*testenv.Registry{"distribution": testenv.DockerRegistry(t), "ggcr": testenv.MemRegistry(t, false)} {
		t.Run(regName, func(t *testing.T) {
			ctx := testCtx(t)
			reg := newClient(t)
			testenv.SeedSingle(t, tr.Host, "busy", "v1")
			s := subject(t, reg, tr.Host+"/busy:v1")
			key := testenv.NewECKey(t, elliptic.P256())
			p := newPKI(t, key, false)
			f, err := notation.NewFormat(reg, key, p.chain)
			if err != nil {
				t.Fatal(err)
			}
			formats := []*notation.Format{}
			for range n {
				k := testenv.NewECKey(t, elliptic.P256())
				fk, err := notation.NewFormat(reg, k, newPKI(t, k, false).chain)
				if err != nil {
					t.Fatal(err)
				}
				formats = append(formats, fk)
			}
			var wg sync.WaitGroup
			results := make([]signature.Result, 2*n)
			errs := make([]error, 2*n)
			for i := range n {
				wg.Go(func() { results[i], errs[i] = f.Sign(ctx, s) })
				wg.Go(func() { results[n+i], errs[n+i] = formats[i].Sign(ctx, s) })
			}
			wg.Wait()
			skipped := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Sign %d: %v", i, err)
				}
				if results[i].Skipped {
					skipped++
				}
			}
			if skipped != n-1 {
				t.Errorf("%d of %d same-key signs skipped; want %d", skipped, n, n-1)
			}
			ds, err := notation.NewStore(reg).List(ctx, s)
			if err != nil || len(ds) != n+1 {
				t.Errorf("List() = %d signatures, %v; want %d", len(ds), err, n+1)
			}
		})
	}
}

func notationLeaf(cn string) certs.LeafOptions { return certs.LeafOptions{Subject: subjectName(cn)} }

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestVerifyReasons: each kind of bad signature is rejected with its own
// reason and a message naming the problem.
func TestVerifyReasons(t *testing.T) {
	tr := testenv.MemRegistry(t, false)
	reg := newClient(t)
	ctx := testCtx(t)
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	trust := chainTrust{roots: []*x509.Certificate{p.root()}}
	f, err := notation.NewFormat(reg, key, p.chain)
	if err != nil {
		t.Fatal(err)
	}
	seed := func(repo string) signature.Subject {
		testenv.SeedSingle(t, tr.Host, repo, "v1")
		return subject(t, reg, tr.Host+"/"+repo+":v1")
	}
	envelopeFor := func(target signature.Subject, mutate func(*notation.Descriptor)) []byte {
		var pl notation.Payload
		b, _ := notation.NewPayload(target, nil)
		json.Unmarshal(b, &pl)
		if mutate != nil {
			mutate(&pl.TargetArtifact)
		}
		b, _ = json.Marshal(pl)
		return signEnvelope(t, p, notation.SignRequest{Payload: b})
	}

	good := seed("good")
	if _, err := f.Sign(ctx, good); err != nil {
		t.Fatal(err)
	}
	unsigned := seed("unsigned")
	copied := seed("copied")
	push(t, reg, copied, envelopeFor(good, nil), p.chain)
	wrongType := seed("wrongtype")
	push(t, reg, wrongType, envelopeFor(wrongType, func(d *notation.Descriptor) { d.MediaType = "application/vnd.docker.distribution.manifest.v2+json" }), p.chain)
	wrongSize := seed("wrongsize")
	push(t, reg, wrongSize, envelopeFor(wrongSize, func(d *notation.Descriptor) { d.Size++ }), p.chain)
	tampered := seed("tampered")
	{
		env := envelopeFor(tampered, nil)
		var w map[string]any
		json.Unmarshal(env, &w)
		forged, _ := notation.NewPayload(good, nil)
		w["payload"] = b64url(forged)
		env, _ = json.Marshal(w)
		push(t, reg, tampered, env, p.chain)
	}
	expired := seed("expired")
	push(t, reg, expired, signEnvelope(t, p, notation.SignRequest{Payload: mustPayload(t, expired), SigningTime: time.Now().Add(-2 * time.Minute), Expiry: time.Now().Add(-time.Minute)}), p.chain)

	otherKey := testenv.NewECKey(t, elliptic.P256())
	otherPKI := newPKI(t, otherKey, false)
	tests := []struct {
		name   string
		s      signature.Subject
		trust  signature.Trust
		reason signature.Reason
		msg    string
	}{
		{"good", good, trust, "", ""},
		{"unsigned", unsigned, trust, signature.ReasonUnsigned, "no notation signature"},
		{"wrong key", good, signature.KeyTrust{Key: otherKey.Public()}, signature.ReasonUntrustedKey, "not trusted"},
		{"untrusted CA", good, chainTrust{roots: []*x509.Certificate{otherPKI.root()}}, signature.ReasonUntrustedCert, "not trusted"},
		{"copied from another manifest", copied, trust, signature.ReasonWrongSubject, "is for " + good.Digest.String()},
		{"wrong media type", wrongType, trust, signature.ReasonWrongSubject, "media type"},
		{"wrong size", wrongSize, trust, signature.ReasonWrongSubject, "size"},
		{"tampered payload", tampered, trust, signature.ReasonTampered, "altered after signing"},
		{"expired", expired, trust, signature.ReasonUntrustedCert, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustVerifier(t, reg, tt.trust).Verify(ctx, tt.s)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify() = %v", err)
				}
				return
			}
			var ve *signature.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify() = %v; want a *signature.VerifyError", err)
			}
			if ve.Reason != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Verify() = %s, %q; want %s mentioning %q", ve.Reason, err, tt.reason, tt.msg)
			}
		})
	}
}

func mustPayload(t *testing.T, s signature.Subject) []byte {
	t.Helper()
	b, err := notation.NewPayload(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewFormatRejects(t *testing.T) {
	reg := newClient(t)
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	other := newPKI(t, testenv.NewECKey(t, elliptic.P256()), false)
	for name, chain := range map[string][]*x509.Certificate{
		"no chain":          nil,
		"another key":       other.chain,
		"no root":           p.chain[:1],
		"stray certificate": append([]*x509.Certificate{}, append(p.chain, other.root())...),
	} {
		if _, err := notation.NewFormat(reg, key, chain); err == nil {
			t.Errorf("NewFormat(%s) = nil error", name)
		}
	}
	if _, err := notation.NewFormat(reg, key, p.chain, notation.WithExpiry(-time.Hour)); err == nil {
		t.Error("NewFormat(negative expiry) = nil error")
	}
	if _, err := notation.NewFormat(reg, key, p.chain, notation.WithUserMetadata(map[string]string{"io.cncf.notary.x": "y"})); err == nil {
		t.Error("NewFormat(reserved metadata key) = nil error")
	}
}
