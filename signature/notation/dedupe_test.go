package notation_test

import (
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/notation"
	"github.com/signet-project/signet/signature/referrer"
)

// TestManifestExpiryAnnotation: signet records the envelope's expiry, or
// its absence, beside the creation time, but only when the envelope says
// the same signing time, since the dedupe takes the two for the envelope's.
func TestManifestExpiryAnnotation(t *testing.T) {
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	s := signature.Subject{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 10}
	at := time.Now().Truncate(time.Second).UTC()
	envelope := func(expiry time.Time) []byte {
		payload, err := notation.NewPayload(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := notation.Sign(context.Background(), key, notation.SignRequest{Payload: payload, Chain: p.chain, SigningTime: at, Expiry: expiry})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	for _, tc := range []struct {
		name     string
		env      []byte
		signedAt time.Time
		want     string // "" for no annotation
	}{
		{"no expiry", envelope(time.Time{}), at, notation.NoExpiry},
		{"expiry", envelope(at.Add(time.Hour)), at, at.Add(time.Hour).Format(time.RFC3339)},
		{"signing time in another zone", envelope(time.Time{}), at.In(time.FixedZone("CET", 3600)), notation.NoExpiry},
		{"another signing time", envelope(time.Time{}), at.Add(time.Second), ""},
		{"not an envelope", []byte(`{"payload":"e30"}`), at, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm, err := notation.NewSignatureManifest(tc.env, s, p.chain, tc.signedAt)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Annotations map[string]string `json:"annotations"`
			}
			if err := json.Unmarshal(sm.Body, &m); err != nil {
				t.Fatal(err)
			}
			got, ok := m.Annotations[notation.ExpiryAnnotation]
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("%s = %q (present %v); want %q", notation.ExpiryAnnotation, got, ok, tc.want)
			}
			if !maps.Equal(m.Annotations, sm.Descriptor.Annotations) {
				t.Errorf("the listing's annotations %v differ from the manifest's %v", sm.Descriptor.Annotations, m.Annotations)
			}
		})
	}
}

// TestDedupeValidity: a signature by the same chain counts as present only
// until it expires, whatever signing time it claims. For a
// signature signet made, the listing says so and no envelope is read; for
// one without signet's annotation (notation's) the envelope is read, and
// only that one: another chain's signature listed first is never read.
func TestDedupeValidity(t *testing.T) {
	ctx := testCtx(t)
	fr := testenv.NewBrokenRegistry(t, 0)
	reg := newClient(t)
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	otherKey := testenv.NewECKey(t, elliptic.P256())
	other := newPKI(t, otherKey, false)
	t0 := time.Now().Truncate(time.Second)
	clock := func(at time.Time) notation.Option { return notation.WithClock(func() time.Time { return at }) }

	for i, tc := range []struct {
		name string
		// The first signature: signed at signed, expiring after expiry
		// (never when 0), by signet (with its annotation) or not.
		signed   time.Duration
		expiry   time.Duration
		bySignet bool
		// The second Sign runs at.
		at          time.Duration
		wantSkipped bool
	}{
		{name: "no expiry", at: 3 * time.Hour, bySignet: true, wantSkipped: true},
		{name: "not yet expired", expiry: time.Hour, at: 30 * time.Minute, bySignet: true, wantSkipped: true},
		{name: "expired", expiry: time.Hour, at: 3 * time.Hour, bySignet: true},
		// The signing time is the signer's unauthenticated claim:
		// verifiers accept a signature whose signing time is yet to come
		// (TestNotationResign), so a signer whose clock ran
		// ahead must not make the next run sign again.
		{name: "signed 30 s in the future", signed: 30 * time.Second, bySignet: true, wantSkipped: true},
		{name: "signed in the future", signed: 2 * time.Hour, bySignet: true, wantSkipped: true},
		{name: "no expiry, by notation", at: 3 * time.Hour, wantSkipped: true},
		{name: "not yet expired, by notation", expiry: time.Hour, at: 30 * time.Minute, wantSkipped: true},
		{name: "expired, by notation", expiry: time.Hour, at: 3 * time.Hour},
		{name: "signed 30 s in the future, by notation", signed: 30 * time.Second, wantSkipped: true},
		{name: "signed in the future, by notation", signed: 2 * time.Hour, wantSkipped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("validity/c%d", i)
			testenv.SeedSingle(t, fr.Host, repo, "v1")
			s := subject(t, reg, fr.Host+"/"+repo+":v1")
			if _, err := mustFormat(t, reg, otherKey, other.chain).Sign(ctx, s); err != nil {
				t.Fatal(err)
			}
			signed, at := t0.Add(tc.signed), t0.Add(tc.at)
			var opts []notation.Option
			var expiry time.Time
			if tc.expiry > 0 {
				opts = append(opts, notation.WithExpiry(tc.expiry))
				expiry = signed.Add(tc.expiry)
			}
			var first v1.Hash
			if tc.bySignet {
				r, err := mustFormat(t, reg, key, p.chain, append(opts, clock(signed))...).Sign(ctx, s)
				if err != nil || r.Skipped {
					t.Fatalf("first Sign() = %+v, %v", r, err)
				}
				first = r.Digest
			} else {
				first = pushForeign(t, reg, s, p, signed, expiry)
			}

			f := mustFormat(t, reg, key, p.chain, append(opts, clock(at))...)
			before := fr.BlobGETs.Load()
			r, err := f.Sign(ctx, s)
			if err != nil || r.Skipped != tc.wantSkipped {
				t.Fatalf("second Sign() = %+v, %v; want skipped %v", r, err, tc.wantSkipped)
			}
			if tc.wantSkipped && r.Digest != first {
				t.Errorf("second Sign() names %s; want the first signature %s", r.Digest, first)
			}
			// Only the envelope of the first signature, when signet's
			// annotation is missing.
			wantReads := map[bool]int64{true: 0, false: 1}[tc.bySignet]
			if got := fr.BlobGETs.Load() - before; got != wantReads {
				t.Errorf("second Sign() read %d blobs; want %d", got, wantReads)
			}
			v, err := notation.NewVerifier(reg, chainTrust{roots: []*x509.Certificate{p.root()}}, notation.WithVerifyClock(func() time.Time { return at }))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, s); err != nil {
				t.Errorf("Verify() at the second Sign's time = %v", err)
			}
			before = fr.BlobGETs.Load()
			if r, err := f.Sign(ctx, s); err != nil || !r.Skipped {
				t.Errorf("third Sign() = %+v, %v; want skipped", r, err)
			}
			if !tc.wantSkipped && fr.BlobGETs.Load() != before+wantReads {
				t.Errorf("third Sign() read %d blobs; want %d (signet's own signature is judged from the listing)", fr.BlobGETs.Load()-before, wantReads)
			}
		})
	}
}

// TestDedupeListedSignatureGone: signet's own signature is judged from the
// listing, but counts only once a HEAD finds its manifest: on a registry
// without the referrers API a signature deleted by digest stays listed in
// the tag index. A manifest that is gone covers nothing, and Sign pushes a
// new signature (which drops the deleted one from the index); one the
// registry cannot answer for is no verdict, so Sign fails and writes
// nothing.
func TestDedupeListedSignatureGone(t *testing.T) {
	ctx := testCtx(t)
	fr := testenv.NewBrokenRegistry(t, 0)
	reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	for i, tc := range []struct {
		name     string
		deleted  bool // the signature manifest is deleted
		breakage testenv.Breakage
		// wantListed is how many signatures are listed after Sign;
		// wantSkipped and wantErr say what Sign does.
		wantListed  int
		wantSkipped bool
		wantErr     bool
		temporary   bool
	}{
		{name: "present", wantListed: 1, wantSkipped: true},
		{name: "deleted", deleted: true, wantListed: 1},
		{name: "gone", breakage: testenv.Gone, wantListed: 2},
		{name: "registry failing", breakage: testenv.Failing, wantListed: 1, wantErr: true, temporary: true},
		{name: "access refused", breakage: testenv.Denied, wantListed: 1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("listedgone/c%d", i)
			testenv.SeedSingle(t, fr.Host, repo, "v1")
			s := subject(t, reg, fr.Host+"/"+repo+":v1")
			f := mustFormat(t, reg, key, p.chain)
			first, err := f.Sign(ctx, s)
			if err != nil || first.Skipped {
				t.Fatalf("first Sign() = %+v, %v", first, err)
			}
			if tc.deleted {
				if err := reg.DeleteManifest(ctx, s.Repo, first.Digest); err != nil {
					t.Fatal(err)
				}
			}
			fr.Break("/v2/"+repo+"/manifests/"+first.Digest.String(), tc.breakage)
			r, err := f.Sign(ctx, s)
			switch {
			case tc.wantErr:
				if err == nil || registry.IsTemporary(err) != tc.temporary || !strings.Contains(err.Error(), first.Digest.String()) {
					t.Errorf("second Sign() = %+v, %v (temporary %v); want an error naming %s, temporary %v",
						r, err, registry.IsTemporary(err), first.Digest, tc.temporary)
				}
			case err != nil || r.Skipped != tc.wantSkipped:
				t.Errorf("second Sign() = %+v, %v; want skipped %v", r, err, tc.wantSkipped)
			}
			fr.Break("/v2/"+repo+"/manifests/"+first.Digest.String(), testenv.Intact)
			if ds, err := notation.NewStore(reg).List(ctx, s); err != nil || len(ds) != tc.wantListed {
				t.Errorf("%d signatures listed after the second Sign, %v; want %d", len(ds), err, tc.wantListed)
			}
			if _, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{p.root()}}).Verify(ctx, s); err != nil {
				t.Errorf("Verify() after the second Sign = %v", err)
			}
		})
	}
}

// TestUnreadableSignature: a listed signature whose envelope cannot be
// read is skipped, by Verify and by the dedupe. When the signature itself
// is to blame (manifest deleted but still listed in the tag index,
// envelope gone, over the size limit or altered) it covers nothing and is
// a verdict; when the registry fails, it is unknown: a later signature may
// still pass or cover, but otherwise the answer is an error, temporary
// when the failure is, never "valid", "present" or "unsigned". Errors name
// the unreadable signature.
func TestUnreadableSignature(t *testing.T) {
	ctx := testCtx(t)
	fr := testenv.NewBrokenRegistry(t, notation.MaxEnvelopeSize+1)
	reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	keyA, keyB := testenv.NewECKey(t, elliptic.P256()), testenv.NewECKey(t, elliptic.P256())
	pa, pb := newPKI(t, keyA, false), newPKI(t, keyB, false)
	unrelated := newPKI(t, testenv.NewECKey(t, elliptic.P256()), false)
	for i, tc := range []struct {
		name     string
		deleted  bool   // the signature manifest is deleted
		path     string // else "manifest" or "envelope": which read breaks
		breakage testenv.Breakage
		// fault: the signature is to blame. reason is Verify's when it is
		// the only signature, beside its reason next to a signature by an
		// untrusted chain.
		fault          bool
		reason, beside signature.Reason
		temporary      bool
	}{
		{name: "manifest deleted", deleted: true, fault: true, reason: signature.ReasonMalformed, beside: signature.ReasonUntrustedCert},
		{name: "envelope missing", path: "envelope", breakage: testenv.Gone, fault: true, reason: signature.ReasonMalformed, beside: signature.ReasonUntrustedCert},
		{name: "envelope over the limit", path: "envelope", breakage: testenv.Oversized, fault: true, reason: signature.ReasonMalformed, beside: signature.ReasonUntrustedCert},
		{name: "envelope altered", path: "envelope", breakage: testenv.Altered, fault: true, reason: signature.ReasonTampered, beside: signature.ReasonTampered},
		{name: "manifest altered", path: "manifest", breakage: testenv.Altered, fault: true, reason: signature.ReasonTampered, beside: signature.ReasonTampered},
		{name: "registry failing", path: "manifest", breakage: testenv.Failing, temporary: true},
		{name: "connection reset", path: "envelope", breakage: testenv.Reset, temporary: true},
		{name: "access refused", path: "envelope", breakage: testenv.Denied},
	} {
		for _, valid := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/valid after %v", tc.name, valid), func(t *testing.T) {
				repo := fmt.Sprintf("unreadable/c%d-%v", i, valid)
				testenv.SeedSingle(t, fr.Host, repo, "v1")
				s := subject(t, reg, fr.Host+"/"+repo+":v1")
				fa, fb := mustFormat(t, reg, keyA, pa.chain), mustFormat(t, reg, keyB, pb.chain)
				// By chain A, as notation writes it: read, it would pass
				// and cover fa.
				bad := pushForeign(t, reg, s, pa, time.Now(), time.Time{})
				var good v1.Hash
				if valid {
					r, err := fb.Sign(ctx, s)
					if err != nil {
						t.Fatal(err)
					}
					good = r.Digest
				}
				switch {
				case tc.deleted:
					if err := reg.DeleteManifest(ctx, s.Repo, bad); err != nil {
						t.Fatal(err)
					}
				case tc.path == "manifest":
					fr.Break("/v2/"+repo+"/manifests/"+bad.String(), tc.breakage)
				default:
					fr.Break("/v2/"+repo+"/blobs/"+envelopeOf(t, reg, s, bad).String(), tc.breakage)
				}

				if valid {
					if got, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{pb.root()}}).Verify(ctx, s); err != nil || got.Manifest != good {
						t.Errorf("Verify(root B) = %v; want the signature after the unreadable one, %s", err, good)
					}
					before := fr.BlobGETs.Load()
					if r, err := fb.Sign(ctx, s); err != nil || !r.Skipped || r.Digest != good {
						t.Errorf("Sign(chain B) = %+v, %v; want skipped, naming %s", r, err, good)
					}
					if n := fr.BlobGETs.Load() - before; n != 0 {
						t.Errorf("Sign(chain B) read %d blobs; want none", n)
					}
					_, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{unrelated.root()}}).Verify(ctx, s)
					checkUnread(t, err, bad, tc.fault, tc.temporary, tc.beside)
				} else {
					_, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{pa.root()}}).Verify(ctx, s)
					checkUnread(t, err, bad, tc.fault, tc.temporary, tc.reason)
				}
				before, err := notation.NewStore(reg).List(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				r, err := fa.Sign(ctx, s)
				after, lerr := notation.NewStore(reg).List(ctx, s)
				if lerr != nil {
					t.Fatal(lerr)
				}
				if !tc.fault {
					// The unread signature may be this very one: writing
					// another would repeat it on every run while the
					// registry fails.
					if err == nil || registry.IsTemporary(err) != tc.temporary || !strings.Contains(err.Error(), bad.String()) {
						t.Errorf("Sign(chain A) = %+v, %v (temporary %v); want an error naming %s, temporary %v", r, err, registry.IsTemporary(err), bad, tc.temporary)
					}
					if len(after) != len(before) {
						t.Errorf("%d signatures listed after a failed Sign; want %d", len(after), len(before))
					}
					return
				}
				if err != nil || r.Skipped {
					t.Fatalf("Sign(chain A) = %+v, %v; want a new signature", r, err)
				}
				want := len(before) + 1
				if tc.deleted {
					want-- // dropped from the tag index
				}
				if len(after) != want {
					t.Errorf("%d signatures listed after Sign; want %d", len(after), want)
				}
				if got, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{pa.root()}}).Verify(ctx, s); err != nil || (!valid && got.Manifest != r.Digest) {
					t.Errorf("Verify(root A) after Sign = %v; want the new signature %s", err, r.Digest)
				}
			})
		}
	}
}

// checkUnread checks a failed Verify: it names the unreadable signature,
// and is a verdict with reason want when the signature is to blame, or no
// verdict at all when the registry failed.
func checkUnread(t *testing.T, err error, bad v1.Hash, fault, temporary bool, want signature.Reason) {
	t.Helper()
	if err == nil {
		t.Errorf("Verify() = nil; want an error")
		return
	}
	if !strings.Contains(err.Error(), bad.String()) {
		t.Errorf("Verify() = %v; want it to name the unreadable signature %s", err, bad)
	}
	var ve *signature.VerifyError
	if !fault {
		if errors.As(err, &ve) || registry.IsTemporary(err) != temporary {
			t.Errorf("Verify() = %v (reason %q, temporary %v); want no verdict, temporary %v",
				err, signature.ReasonOf(err), registry.IsTemporary(err), temporary)
		}
		return
	}
	if got := signature.ReasonOf(err); got != want {
		t.Errorf("Verify() = %v (reason %q); want reason %q", err, got, want)
	}
}

func mustFormat(t testing.TB, reg notation.Registry, key signature.Signer, chain []*x509.Certificate, opts ...notation.Option) *notation.Format {
	t.Helper()
	f, err := notation.NewFormat(reg, key, chain, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// pushForeign stores a signature of s by p's chain as notation writes it:
// the thumbprint and creation annotations, not signet's expiry one. It
// returns the signature manifest's digest.
func pushForeign(t testing.TB, reg *registry.Client, s signature.Subject, p *pki, signed, expiry time.Time) v1.Hash {
	t.Helper()
	ctx := context.Background()
	payload, err := notation.NewPayload(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := notation.Sign(ctx, p.key, notation.SignRequest{Payload: payload, Chain: p.chain, SigningTime: signed, Expiry: expiry, SigningAgent: "notation-go/1.3.2"})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := notation.NewSignatureManifest(env, s, p.chain, signed)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(sm.Body, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["annotations"].(map[string]any), notation.ExpiryAnnotation)
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ann := maps.Clone(sm.Descriptor.Annotations)
	delete(ann, notation.ExpiryAnnotation)
	desc := sm.Descriptor
	desc.Digest, desc.Size, desc.Annotations = referrer.Digest(body), int64(len(body)), ann
	if err := notation.NewStore(reg).Push(ctx, s, &notation.SignatureManifest{Body: body, Descriptor: desc, Envelope: env}); err != nil {
		t.Fatal(err)
	}
	return desc.Digest
}

// envelopeOf returns the digest of the envelope of signature manifest d.
func envelopeOf(t testing.TB, reg *registry.Client, s signature.Subject, d v1.Hash) v1.Hash {
	t.Helper()
	m, err := reg.Manifest(context.Background(), s.Repo.Digest(d.String()))
	if err != nil {
		t.Fatal(err)
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Body, &man); err != nil || len(man.Layers) != 1 {
		t.Fatalf("signature %s: %v, %d layers", d, err, len(man.Layers))
	}
	return man.Layers[0].Digest
}
