package bundle_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
	"github.com/signet-project/signet/signature/certs"
)

// leafTrust trusts no bare key, and a chain only when its leaf is one
// certificate: a policy whose roots or identities accept the current
// certificate and no earlier one.
type leafTrust struct{ leaf *x509.Certificate }

func (leafTrust) Keys() []crypto.PublicKey { return nil }

func (t leafTrust) Chain(chain []*x509.Certificate, _ time.Time) error {
	if len(chain) > 0 && chain[0].Equal(t.leaf) {
		return nil
	}
	return signature.ErrUntrustedChain
}

// TestDedupeCertificates: an existing bundle by the key covers a new one
// only when it carries the new one's leaf and intermediates, or none when
// the new one has none: a first certificate, a renewed one, one from
// another CA, the same leaf under another intermediate, or the first keyed
// bundle after certificate bundles is a new bundle. After a keyed bundle,
// the real cosign v3 verify --key passes.
func TestDedupeCertificates(t *testing.T) {
	ctx := testCtx(t)
	tr := testenv.MemRegistry(t, true)
	reg := newClient(t)
	key := testenv.NewKey(t)
	pub := writePub(t, key.Public())
	_, c1 := issue(t, key, false)
	root, err := certs.NewRootCA(testenv.NewKey(t), name3("dedupe root"), 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := root.IssueLeaf(key.Public(), certs.LeafOptions{Subject: name3("signer")})
	if err != nil {
		t.Fatal(err)
	}
	second, err := root.IssueLeaf(key.Public(), certs.LeafOptions{Subject: name3("signer")})
	if err != nil {
		t.Fatal(err)
	}
	// One intermediate key and name under two roots (a cross-signed
	// intermediate): the leaf it issues chains through either.
	interKey := testenv.NewKey(t)
	var viaA, viaB []*x509.Certificate
	{
		rootA, err := certs.NewRootCA(testenv.NewKey(t), name3("root A"), 0)
		if err != nil {
			t.Fatal(err)
		}
		rootB, err := certs.NewRootCA(testenv.NewKey(t), name3("root B"), 0)
		if err != nil {
			t.Fatal(err)
		}
		interA, err := rootA.IssueIntermediate(interKey, name3("intermediate"), 0)
		if err != nil {
			t.Fatal(err)
		}
		interB, err := rootB.IssueIntermediate(interKey, name3("intermediate"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if viaA, err = interA.IssueLeaf(key.Public(), certs.LeafOptions{Subject: name3("signer")}); err != nil {
			t.Fatal(err)
		}
		viaB = []*x509.Certificate{viaA[0], interB.Cert, rootB.Root()}
	}

	for i, tc := range []struct {
		name        string
		old, new    []*x509.Certificate // nil: a keyed bundle
		wantSkipped bool
	}{
		{name: "key again", wantSkipped: true},
		{name: "same certificate", old: first, new: first, wantSkipped: true},
		{name: "same certificate and intermediate", old: viaA, new: viaA, wantSkipped: true},
		{name: "first certificate", new: first},
		{name: "renewed certificate", old: first, new: second},
		{name: "certificate from another CA", old: c1, new: first},
		{name: "same leaf, other intermediate", old: viaA, new: viaB},
		{name: "first certificate with an intermediate", new: viaA},
		// cosign v3 verify --key refuses a bundle carrying a
		// certificate: only a keyed bundle covers a keyed one.
		{name: "key after certificate", old: first},
		{name: "key after certificate and intermediate", old: viaA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("dedupe/c%d", i)
			testenv.SeedSingle(t, tr.Host, repo, "v1")
			s := subject(t, reg, tr.Host+"/"+repo+":v1")
			if r, err := format(t, reg, key, tc.old).Sign(ctx, s); err != nil || r.Skipped {
				t.Fatalf("first Sign() = %+v, %v", r, err)
			}
			f := format(t, reg, key, tc.new)
			r, err := f.Sign(ctx, s)
			if err != nil || r.Skipped != tc.wantSkipped {
				t.Fatalf("second Sign() = %+v, %v; want skipped %v", r, err, tc.wantSkipped)
			}
			ds, err := reg.ListReferrers(ctx, s.Repo, s.Digest, "")
			if want := map[bool]int{true: 1, false: 2}[tc.wantSkipped]; err != nil || len(ds) != want {
				t.Fatalf("ListReferrers() = %d, %v; want %d bundles", len(ds), err, want)
			}
			// The dedupe finds what the second Sign wrote.
			if r, err := f.Sign(ctx, s); err != nil || !r.Skipped {
				t.Errorf("third Sign() = %+v, %v; want skipped", r, err)
			}
			if _, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
				t.Errorf("Verify(trusting the key) = %v", err)
			}
			if tc.new == nil {
				if out, err := cosignVerify(t, pub, s.Name().String()); err != nil {
					t.Errorf("cosign-v3 verify --key: %v\n%s", err, out)
				}
			}
			if tc.new != nil {
				// A verifier trusting only the new certificate, or only the
				// new chain's root, finds the bundle it needs.
				if _, err := mustVerifier(t, reg, leafTrust{tc.new[0]}).Verify(ctx, s); err != nil {
					t.Errorf("Verify(trusting the new certificate) = %v", err)
				}
				if _, err := mustVerifier(t, reg, chainTrust{roots: tc.new[len(tc.new)-1:]}).Verify(ctx, s); err != nil {
					t.Errorf("Verify(trusting the new root) = %v", err)
				}
			}
		})
	}
}

// TestDedupeCertificateForm: a bundle carrying the same leaf as a chain of
// one, rather than as the single certificate signet writes, does not cover
// signet's: sigstore-go rejects that form in a v0.3 bundle by default.
func TestDedupeCertificateForm(t *testing.T) {
	ctx := testCtx(t)
	tr := testenv.MemRegistry(t, false)
	reg := newClient(t)
	testenv.SeedSingle(t, tr.Host, "form", "v1")
	s := subject(t, reg, tr.Host+"/form:v1")
	key := testenv.NewKey(t)
	_, chain := issue(t, key, false)
	b, err := bundle.Sign(ctx, key, mustStatement(t, s.Digest), bundle.SignOptions{Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	var bd bundle.Bundle
	if err := json.Unmarshal(b, &bd); err != nil {
		t.Fatal(err)
	}
	bd.VerificationMaterial.X509CertificateChain = &bundle.CertificateChain{Certificates: []bundle.Certificate{*bd.VerificationMaterial.Certificate}}
	bd.VerificationMaterial.Certificate = nil
	if b, err = json.Marshal(bd); err != nil {
		t.Fatal(err)
	}
	pushed(t, reg, s, b)
	if r, err := format(t, reg, key, chain).Sign(ctx, s); err != nil || r.Skipped {
		t.Errorf("Sign() = %+v, %v; want a new bundle", r, err)
	}
}

// TestUnreadableReferrer: a listed referrer whose bundle cannot be read is
// skipped, by Verify and by the dedupe. When the referrer itself is to
// blame (manifest deleted but still listed in the tag index, blob gone,
// over the size limit or altered) it covers nothing and is a verdict;
// when the registry fails, it is unknown: a later bundle may still pass or
// cover, but otherwise the answer is an error, temporary when the failure
// is, never "valid", "present" or "unsigned". Errors name the unreadable
// referrer.
func TestUnreadableReferrer(t *testing.T) {
	ctx := testCtx(t)
	fr := testenv.NewBrokenRegistry(t, bundle.MaxBundleSize+1)
	reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	key, third := testenv.NewKey(t), testenv.NewKey(t)
	for i, tc := range []struct {
		name     string
		deleted  bool   // the referrer manifest is deleted
		path     string // else "manifest" or "blob": which read breaks
		breakage testenv.Breakage
		// fault: the referrer is to blame. reason is Verify's when it is
		// the only bundle, beside its reason next to a bundle by another
		// key.
		fault          bool
		reason, beside signature.Reason
		temporary      bool
	}{
		{name: "manifest deleted", deleted: true, fault: true, reason: signature.ReasonMalformed, beside: signature.ReasonUntrustedKey},
		{name: "blob missing", path: "blob", breakage: testenv.Gone, fault: true, reason: signature.ReasonMalformed, beside: signature.ReasonUntrustedKey},
		{name: "blob over the limit", path: "blob", breakage: testenv.Oversized, fault: true, reason: signature.ReasonMalformed, beside: signature.ReasonUntrustedKey},
		{name: "blob altered", path: "blob", breakage: testenv.Altered, fault: true, reason: signature.ReasonTampered, beside: signature.ReasonTampered},
		{name: "manifest altered", path: "manifest", breakage: testenv.Altered, fault: true, reason: signature.ReasonTampered, beside: signature.ReasonTampered},
		{name: "registry failing", path: "manifest", breakage: testenv.Failing, temporary: true},
		{name: "connection reset", path: "blob", breakage: testenv.Reset, temporary: true},
		{name: "access refused", path: "blob", breakage: testenv.Denied},
	} {
		for _, valid := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/valid after %v", tc.name, valid), func(t *testing.T) {
				repo := fmt.Sprintf("unreadable/c%d-%v", i, valid)
				testenv.SeedSingle(t, fr.Host, repo, "v1")
				s := subject(t, reg, fr.Host+"/"+repo+":v1")
				f := format(t, reg, key, nil)
				// The unreadable bundle is by the key itself: read, it
				// would pass and cover.
				r, err := f.Sign(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				bad := r.Digest
				var good v1.Hash
				if valid {
					b, err := bundle.Sign(ctx, key, mustStatement(t, s.Digest), bundle.SignOptions{})
					if err != nil {
						t.Fatal(err)
					}
					good = pushed(t, reg, s, b)
				}
				switch {
				case tc.deleted:
					if err := reg.DeleteManifest(ctx, s.Repo, bad); err != nil {
						t.Fatal(err)
					}
				case tc.path == "manifest":
					fr.Break("/v2/"+repo+"/manifests/"+bad.String(), tc.breakage)
				default:
					fr.Break("/v2/"+repo+"/blobs/"+blobOf(t, reg, s, bad).String(), tc.breakage)
				}

				if valid {
					if got, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil || got.Manifest != good {
						t.Errorf("Verify(the key) = %v; want the bundle after the unreadable one, %s", err, good)
					}
					if r, err := f.Sign(ctx, s); err != nil || !r.Skipped || r.Digest != good {
						t.Errorf("Sign() = %+v, %v; want skipped, naming %s", r, err, good)
					}
					_, err := mustVerifier(t, reg, signature.KeyTrust{Key: third.Public()}).Verify(ctx, s)
					checkUnread(t, err, bad, tc.fault, tc.temporary, tc.beside)
					return
				}
				_, err = mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s)
				checkUnread(t, err, bad, tc.fault, tc.temporary, tc.reason)
				r, err = f.Sign(ctx, s)
				ds, lerr := reg.ListReferrers(ctx, s.Repo, s.Digest, "")
				if lerr != nil {
					t.Fatal(lerr)
				}
				if !tc.fault {
					// The unread bundle may be this very one: writing
					// another would repeat it on every run while the
					// registry fails.
					if err == nil || registry.IsTemporary(err) != tc.temporary || !strings.Contains(err.Error(), bad.String()) {
						t.Errorf("Sign() = %+v, %v (temporary %v); want an error naming %s, temporary %v", r, err, registry.IsTemporary(err), bad, tc.temporary)
					}
					if len(ds) != 1 {
						t.Errorf("%d referrers listed after a failed Sign; want 1", len(ds))
					}
					return
				}
				if err != nil || r.Skipped {
					t.Fatalf("Sign() = %+v, %v; want a new bundle", r, err)
				}
				if tc.deleted && len(ds) != 1 {
					t.Errorf("%d referrers listed; want the new one only, the deleted one dropped from the tag index", len(ds))
				}
				if got, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil || got.Manifest != r.Digest {
					t.Errorf("Verify(the key) after Sign = %v; want the new bundle %s", err, r.Digest)
				}
			})
		}
	}
}

// checkUnread checks a failed Verify: it names the unreadable referrer,
// and is a verdict with reason want when the referrer is to blame, or no
// verdict at all when the registry failed.
func checkUnread(t *testing.T, err error, bad v1.Hash, fault, temporary bool, want signature.Reason) {
	t.Helper()
	if err == nil {
		t.Errorf("Verify() = nil; want an error")
		return
	}
	if !strings.Contains(err.Error(), bad.String()) {
		t.Errorf("Verify() = %v; want it to name the unreadable referrer %s", err, bad)
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

// TestRegistryFailingEveryBlob: while the registry answers 500 to every
// blob read, nothing counts as signed, unsigned or present.
func TestRegistryFailingEveryBlob(t *testing.T) {
	ctx := testCtx(t)
	fr := testenv.NewBrokenRegistry(t, 0)
	reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, fr.Host, "app", "v1")
	s := subject(t, reg, fr.Host+"/app:v1")
	key := testenv.NewKey(t)
	var blobs []string
	for _, k := range []testenv.Key{testenv.NewKey(t), key} {
		r, err := format(t, reg, k, nil).Sign(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, "/v2/app/blobs/"+blobOf(t, reg, s, r.Digest).String())
	}
	for _, p := range blobs {
		fr.Break(p, testenv.Failing)
	}
	if _, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err == nil || signature.ReasonOf(err) != "" || !registry.IsTemporary(err) {
		t.Errorf("Verify() = %v (reason %q); want a temporary error, no verdict", err, signature.ReasonOf(err))
	}
	if r, err := format(t, reg, key, nil).Sign(ctx, s); err == nil || !registry.IsTemporary(err) {
		t.Errorf("Sign() = %+v, %v; want a temporary error", r, err)
	}
	for _, p := range blobs {
		fr.Break(p, testenv.Intact)
	}
	if ds, err := reg.ListReferrers(ctx, s.Repo, s.Digest, ""); err != nil || len(ds) != 2 {
		t.Errorf("after the outage: %d referrers, %v; want the 2 signed before it, nothing added", len(ds), err)
	}
}

// format is the bundle format for key, with chain when not nil.
func format(t testing.TB, reg bundle.Registry, key signature.Signer, chain []*x509.Certificate) *bundle.Format {
	t.Helper()
	var opts []bundle.Option
	if chain != nil {
		opts = append(opts, bundle.WithCertificateChain(chain))
	}
	f, err := bundle.NewFormat(reg, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// pushed stores b as a bundle referrer of s, bypassing the dedupe, and
// returns the referrer's digest.
func pushed(t testing.TB, reg *registry.Client, s signature.Subject, b []byte) v1.Hash {
	t.Helper()
	ctx := context.Background()
	m, desc, err := bundle.NewReferrerManifest(b, s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, blob := range [][]byte{[]byte("{}"), b} {
		if err := reg.UploadBlob(ctx, s.Repo, hash(blob), blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.PushReferrer(ctx, s.Repo, m, "", desc, s.Digest); err != nil {
		t.Fatal(err)
	}
	return desc.Digest
}

// blobOf returns the digest of the one layer of referrer d of s.
func blobOf(t testing.TB, reg *registry.Client, s signature.Subject, d v1.Hash) v1.Hash {
	t.Helper()
	m, err := reg.Manifest(context.Background(), s.Repo.Digest(d.String()))
	if err != nil {
		t.Fatal(err)
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Body, &man); err != nil || len(man.Layers) != 1 {
		t.Fatalf("referrer %s: %v, %d layers", d, err, len(man.Layers))
	}
	return man.Layers[0].Digest
}
