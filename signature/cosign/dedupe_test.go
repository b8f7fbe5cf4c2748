package cosign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/cosign"
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

// signingCert is a certificate for a key and the chain above it, as PEM.
type signingCert struct {
	leaf        *x509.Certificate
	cert, chain []byte
}

func issue(t *testing.T, ca *certs.CA, key testenv.Key, cn string) signingCert {
	t.Helper()
	chain, err := ca.IssueLeaf(key.Public(), certs.LeafOptions{Subject: pkix.Name{CommonName: cn}})
	if err != nil {
		t.Fatal(err)
	}
	return signingCert{leaf: chain[0], cert: certs.EncodePEM(chain[:1]), chain: certs.EncodePEM(chain[1:])}
}

// writeSig replaces subject's .sig with one holding layers, uploading the
// config; payloads are the caller's business, so a test can leave one out.
func writeSig(t *testing.T, reg *registry.Client, s signature.Subject, layers ...cosign.Layer) {
	t.Helper()
	ctx := context.Background()
	att := &cosign.Attachment{Layers: layers}
	config := att.Config()
	if err := reg.UploadBlob(ctx, s.Repo, cosign.NewLayer("", config, nil).Digest, config); err != nil {
		t.Fatal(err)
	}
	m, err := att.Manifest(config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PutManifest(ctx, s.Repo.Tag(cosign.Tag(s.Digest, cosign.SignatureSuffix)), string(types.OCIManifestSchema1), m); err != nil {
		t.Fatal(err)
	}
}

func uploadPayload(t *testing.T, reg *registry.Client, s signature.Subject, l cosign.Layer) {
	t.Helper()
	if err := reg.UploadBlob(context.Background(), s.Repo, l.Digest, l.Payload); err != nil {
		t.Fatal(err)
	}
}

// TestSameKeyCertificates: an existing signature by the key covers a new one
// only when it carries the new one's certificate and chain, or none when
// the new one has none, whatever identity either names: a first
// certificate, a renewed one, a changed chain or the first bare-key
// signature after certificates is a new layer.
func TestSameKeyCertificates(t *testing.T) {
	ctx := context.Background()
	tr := testenv.MemRegistry(t, false)
	proxy := testenv.NewFaultProxy(t, tr.Host, nil)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.NewKey(t)
	root, err := certs.NewRootCA(testenv.NewKey(t), pkix.Name{CommonName: "root"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewRootCA(testenv.NewKey(t), pkix.Name{CommonName: "other root"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := issue(t, root, key, "signer"), issue(t, root, key, "signer")
	c1other := signingCert{leaf: c1.leaf, cert: c1.cert, chain: certs.EncodePEM(other.Chain())}
	none := signingCert{}

	for i, tc := range []struct {
		name     string
		old, new signingCert
		// newTag signs the second time under another tag of the manifest.
		newTag      bool
		wantSkipped bool
		// wantFetches is how many payload blobs the second Sign reads.
		wantFetches int
	}{
		{name: "bare key again", old: none, new: none, wantSkipped: true},
		{name: "bare key again, other tag", old: none, new: none, newTag: true, wantSkipped: true, wantFetches: 1},
		{name: "same certificate", old: c1, new: c1, wantSkipped: true},
		{name: "same certificate, other tag", old: c1, new: c1, newTag: true, wantSkipped: true, wantFetches: 1},
		{name: "first certificate", old: none, new: c1},
		{name: "first certificate, other tag", old: none, new: c1, newTag: true},
		{name: "renewed certificate", old: c1, new: c2},
		{name: "renewed certificate, other tag", old: c1, new: c2, newTag: true},
		{name: "other chain", old: c1, new: c1other},
		// Not cosign's rule, which runs one way: cosign verify --key
		// rejects a layer whose certificate has expired, so only a
		// bare-key layer covers a bare-key signature
		// (TestSameKeyExpiredCertificate).
		{name: "bare key after certificate", old: c1, new: none},
		{name: "bare key after certificate, other tag", old: c1, new: none, newTag: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("dedupe/c%d", i)
			testenv.SeedSingle(t, proxy.Host, repo, "v1")
			s := subject(t, reg, proxy.Host+"/"+repo+":v1")
			store := cosign.NewStore(reg)
			r1, err := cosign.NewFormat(store, key, tc.old.cert, tc.old.chain).Sign(ctx, s)
			if err != nil || r1.Skipped {
				t.Fatalf("first Sign() = %+v, %v", r1, err)
			}
			s2 := s
			if tc.newTag {
				s2.Identity = proxy.Host + "/" + repo + ":latest"
			}
			blobGETs := func() int {
				return len(proxy.Requests(func(r testenv.SeenRequest) bool {
					return r.Method == http.MethodGet && strings.Contains(r.Path, "/"+repo+"/blobs/")
				}))
			}
			before := blobGETs()
			r2, err := cosign.NewFormat(store, key, tc.new.cert, tc.new.chain).Sign(ctx, s2)
			if err != nil {
				t.Fatalf("second Sign() = %v", err)
			}
			if r2.Skipped != tc.wantSkipped {
				t.Errorf("second Sign().Skipped = %v; want %v", r2.Skipped, tc.wantSkipped)
			}
			if got := blobGETs() - before; got != tc.wantFetches {
				t.Errorf("second Sign() read %d payload blobs; want %d", got, tc.wantFetches)
			}
			att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
			if err != nil {
				t.Fatal(err)
			}
			wantLayers := 2
			if tc.wantSkipped {
				wantLayers = 1
			}
			if len(att.Layers) != wantLayers {
				t.Fatalf("the .sig holds %d layers; want %d", len(att.Layers), wantLayers)
			}
			if last := att.Layers[len(att.Layers)-1]; !tc.wantSkipped && last.Annotations[cosign.CertificateAnnotation] != string(tc.new.cert) {
				t.Errorf("new layer's certificate = %.40q; want %.40q", last.Annotations[cosign.CertificateAnnotation], tc.new.cert)
			}
			// Signing a third time changes nothing: the dedupe finds what
			// the second run wrote.
			if r3, err := cosign.NewFormat(store, key, tc.new.cert, tc.new.chain).Sign(ctx, s2); err != nil || !r3.Skipped {
				t.Errorf("third Sign() = %+v, %v; want skipped", r3, err)
			}
			// A verifier trusting the bare key accepts the manifest whatever
			// certificates its layers carry.
			if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s2); err != nil {
				t.Errorf("Verify(trusting the key) = %v", err)
			}
			if tc.new.leaf != nil {
				// A verifier trusting only the new certificate accepts the
				// manifest: the layer it needs is there.
				if _, err := cosign.NewVerifier(store, leafTrust{tc.new.leaf}).Verify(ctx, s); err != nil {
					t.Errorf("Verify(trusting the new certificate) = %v", err)
				}
			}
		})
	}
}

// TestSameKeyMissingChain: a layer with a certificate but no chain
// annotation at all (as another tool may write it) covers signet's, which
// writes an empty chain: both mean "no chain".
func TestSameKeyMissingChain(t *testing.T) {
	ctx := context.Background()
	tr := testenv.MemRegistry(t, false)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, tr.Host, "app", "v1")
	s := subject(t, reg, tr.Host+"/app:v1")
	key := testenv.NewKey(t)
	root, err := certs.NewRootCA(testenv.NewKey(t), pkix.Name{CommonName: "root"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := issue(t, root, key, "signer")
	old, err := cosign.Sign(ctx, key, s.Identity, s.Digest, c.cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	delete(old.Annotations, cosign.ChainAnnotation)
	uploadPayload(t, reg, s, old)
	writeSig(t, reg, s, old)
	store := cosign.NewStore(reg)
	if r, err := cosign.NewFormat(store, key, c.cert, nil).Sign(ctx, s); err != nil || !r.Skipped {
		t.Errorf("Sign() = %+v, %v; want skipped", r, err)
	}
}

// TestUnreadableLayer: a simple-signing layer whose payload cannot be read
// is skipped, by Verify and by the dedupe, as cosign skips it. When the
// layer itself is to blame (blob gone, over the size limit) it covers
// nothing and is a verdict; when the registry fails, it is unknown: a
// later layer may still pass or cover, but otherwise the answer is an error
// that says the registry failed, never "valid", "covered" or "unsigned".
func TestUnreadableLayer(t *testing.T) {
	ctx := context.Background()
	for i, tc := range []struct {
		name string
		// unreadable makes a foreign layer whose payload the registry will
		// not serve, uploading what it needs through reg.
		unreadable func(t *testing.T, reg *registry.Client, s signature.Subject) cosign.Layer
		// failing: GETs of that layer's blob answer 500 (the registry
		// failing, not the layer).
		failing bool
	}{
		{name: "blob missing", unreadable: func(t *testing.T, _ *registry.Client, s signature.Subject) cosign.Layer {
			return foreignLayer(t, s)
		}},
		{name: "payload over the limit", unreadable: func(t *testing.T, reg *registry.Client, s signature.Subject) cosign.Layer {
			l := cosign.NewLayer(cosign.SimpleSigningMediaType, bytes.Repeat([]byte{' '}, cosign.MaxPayloadSize+1),
				map[string]string{cosign.SignatureAnnotation: "MEUCIQ=="})
			uploadPayload(t, reg, s, l)
			return l
		}},
		{name: "registry failing", failing: true, unreadable: func(t *testing.T, reg *registry.Client, s signature.Subject) cosign.Layer {
			l := foreignLayer(t, s)
			uploadPayload(t, reg, s, l)
			return l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := testenv.MemRegistry(t, false)
			proxy, failPath := pathFailingProxy(t, tr.Host, http.MethodGet)
			reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			key, third := testenv.NewKey(t), testenv.NewKey(t)
			for j, valid := range []bool{true, false} {
				repo := fmt.Sprintf("unreadable/c%d-%d", i, j)
				testenv.SeedSingle(t, proxy.Host, repo, "v1")
				s := subject(t, reg, proxy.Host+"/"+repo+":v1")
				bad := tc.unreadable(t, reg, s)
				if tc.failing {
					failPath("/v2/" + repo + "/blobs/" + bad.Digest.String())
				}
				layers := []cosign.Layer{bad}
				if valid {
					ours, err := cosign.Sign(ctx, key, s.Identity, s.Digest, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					uploadPayload(t, reg, s, ours)
					layers = append(layers, ours)
				}
				writeSig(t, reg, s, layers...)
				store := cosign.NewStore(reg)

				if valid {
					t.Run("before a valid layer", func(t *testing.T) {
						if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
							t.Errorf("Verify(our key) = %v; want the second layer to pass", err)
						}
						r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s)
						if err != nil || !r.Skipped {
							t.Errorf("Sign() = %+v, %v; want skipped: the second layer covers it", r, err)
						}
						_, err = cosign.NewVerifier(store, signature.KeyTrust{Key: third.Public()}).Verify(ctx, s)
						checkUnreadError(t, err, bad, tc.failing, signature.ReasonUntrustedKey)
					})
					continue
				}
				t.Run("alone", func(t *testing.T) {
					_, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s)
					checkUnreadError(t, err, bad, tc.failing, signature.ReasonMalformed)
					r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s)
					att, ferr := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
					if ferr != nil {
						t.Fatal(ferr)
					}
					if tc.failing {
						// The layer may be this very signature: writing one
						// more would repeat it on every run while the
						// registry fails.
						if err == nil || !registry.IsTemporary(err) || !strings.Contains(err.Error(), bad.Digest.String()) {
							t.Errorf("Sign() = %+v, %v; want a temporary error naming %s", r, err, bad.Digest)
						}
						if len(att.Layers) != 1 {
							t.Errorf("the .sig holds %d layers after a failed Sign; want 1", len(att.Layers))
						}
						return
					}
					if err != nil || r.Skipped || len(att.Layers) != 2 {
						t.Fatalf("Sign() = %+v, %v, %d layers; want our layer appended", r, err, len(att.Layers))
					}
					if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
						t.Errorf("Verify(our key) after Sign = %v", err)
					}
				})
			}
		})
	}
}

// TestGoneForeignBlob: on a registry that checks a manifest's blobs
// (distribution refuses it with 400 MANIFEST_BLOB_UNKNOWN), a .sig listing
// a layer whose payload blob was deleted could not be rewritten, so Sign
// failed on every run. Such a layer, which no verifier can read, is
// dropped when the .sig is rewritten, and a payload Sign shares with it is
// uploaded again; readable layers stay.
func TestGoneForeignBlob(t *testing.T) {
	ctx := context.Background()
	tr := testenv.DockerRegistry(t)
	proxy, failPath := pathFailingProxy(t, tr.Host, http.MethodHead)
	reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.NewKey(t)
	pub := writePub(t, key)
	root, err := certs.NewRootCA(testenv.NewKey(t), pkix.Name{CommonName: "other signer's root"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name string
		// gone is another signer's layer of s, whose blob is deleted.
		gone func(t *testing.T, s signature.Subject) cosign.Layer
		// readable adds another signer's layer whose blob stays.
		readable bool
		// uncheckable: the registry fails (500) to say whether the gone
		// blob is there, so nothing may be dropped and Sign fails.
		uncheckable bool
		// wantLayers is how many layers the .sig holds after Sign.
		wantLayers int
	}{
		{name: "another payload", gone: foreignLayer, wantLayers: 1},
		{name: "another payload, beside a readable layer", gone: foreignLayer, readable: true, wantLayers: 2},
		{name: "our payload", wantLayers: 2, gone: func(t *testing.T, s signature.Subject) cosign.Layer {
			// The payload signet's would have, byte for byte: Sign
			// relies on the layer's blob instead of uploading its own.
			l, err := cosign.Sign(ctx, testenv.NewKey(t), s.Identity, s.Digest, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
		{name: "another payload, registry failing", gone: foreignLayer, uncheckable: true, wantLayers: 1},
		{name: "with a certificate", wantLayers: 1, gone: func(t *testing.T, s signature.Subject) cosign.Layer {
			// The dedupe rules it out without reading its payload.
			other := testenv.NewKey(t)
			c := issue(t, root, other, "other signer")
			l, err := cosign.Sign(ctx, other, "elsewhere.example/other:tag", s.Digest, c.cert, c.chain)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("goneblob/c%d", i)
			testenv.SeedSingle(t, proxy.Host, repo, "v1")
			s := subject(t, reg, proxy.Host+"/"+repo+":v1")
			gone := tc.gone(t, s)
			layers := []cosign.Layer{gone}
			if tc.readable {
				// Under another identity than foreignLayer's, so that its
				// payload is another blob.
				l, err := cosign.Sign(ctx, testenv.NewKey(t), "elsewhere.example/kept:tag", s.Digest, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				layers = append(layers, l)
			}
			for _, l := range layers {
				uploadPayload(t, reg, s, l)
			}
			writeSig(t, reg, s, layers...)
			deleteBlob(t, tr.Host, repo, gone.Digest)

			store := cosign.NewStore(reg)
			if tc.uncheckable {
				failPath("/v2/" + repo + "/blobs/" + gone.Digest.String())
				defer failPath("")
			}
			r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s)
			att, ferr := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if tc.uncheckable {
				// The layer may be readable after all: dropping it could
				// lose a signature.
				if err == nil || !registry.IsTemporary(err) || len(att.Layers) != tc.wantLayers || att.Layers[0].Digest != gone.Digest {
					t.Errorf("Sign() = %+v, %v (temporary %v), the .sig then holding %d layers; want a temporary error and the .sig untouched",
						r, err, registry.IsTemporary(err), len(att.Layers))
				}
				return
			}
			if err != nil || r.Skipped {
				t.Fatalf("Sign() = %+v, %v; want our layer written", r, err)
			}
			if len(att.Layers) != tc.wantLayers {
				t.Errorf("the .sig holds %d layers; want %d", len(att.Layers), tc.wantLayers)
			}
			for _, l := range att.Layers {
				if ok, err := reg.BlobExists(ctx, s.Repo, l.Digest); err != nil || !ok {
					t.Errorf("layer %s is listed but its blob is not there (%v)", l.Digest, err)
				}
			}
			if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
				t.Errorf("Verify(our key) = %v", err)
			}
			if out, err := cosignVerify(t, testenv.Tool(t, "cosign-v2"), pub, s.Name().String()); err != nil {
				t.Errorf("cosign-v2 verify --key: %v\n%s", err, out)
			}
			if r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s); err != nil || !r.Skipped {
				t.Errorf("second Sign() = %+v, %v; want skipped", r, err)
			}
		})
	}
}

// deleteBlob deletes a blob from repo on a registry that allows it (the
// registry client has no such call: signet never deletes blobs).
func deleteBlob(t *testing.T, host, repo string, d v1.Hash) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE blob %s: %s", d, resp.Status)
	}
}

// pathFailingProxy fronts the registry at host with a proxy that answers
// 500 to requests of method for the one path fail names ("" for none): the
// registry failing for one blob only.
func pathFailingProxy(t *testing.T, host, method string) (proxy *testenv.FaultProxy, fail func(path string)) {
	t.Helper()
	var failing atomic.Pointer[string]
	proxy = testenv.NewFaultProxy(t, host, func(r *http.Request, _ int) testenv.Fault {
		if p := failing.Load(); p != nil && r.Method == method && r.URL.Path == *p {
			return testenv.ServerError
		}
		return testenv.Pass
	})
	return proxy, func(path string) { failing.Store(&path) }
}

// foreignLayer is another signer's valid signature of s under an identity
// no verifier of s guesses, so reading it takes its payload blob.
func foreignLayer(t *testing.T, s signature.Subject) cosign.Layer {
	t.Helper()
	l, err := cosign.Sign(context.Background(), testenv.NewKey(t), "elsewhere.example/other:tag", s.Digest, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkUnreadError checks a failed Verify: it names the unreadable layer,
// and is a verdict with reason want when the layer is to blame, or no
// verdict at all (and temporary) when the registry failed.
func checkUnreadError(t *testing.T, err error, bad cosign.Layer, failing bool, want signature.Reason) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("Verify() = nil; want an error")
		return
	case !strings.Contains(err.Error(), bad.Digest.String()):
		t.Errorf("Verify() = %v; want it to name the unreadable layer %s", err, bad.Digest)
	}
	var ve *signature.VerifyError
	if failing {
		if errors.As(err, &ve) || !registry.IsTemporary(err) {
			t.Errorf("Verify() = %v (reason %q, temporary %v); want a temporary registry error, no verdict",
				err, signature.ReasonOf(err), registry.IsTemporary(err))
		}
		return
	}
	if got := signature.ReasonOf(err); got != want {
		t.Errorf("Verify() = %v (reason %q); want reason %q", err, got, want)
	}
}

// TestRegistryFailingEveryLayer: while the registry answers 500 to every
// payload read, nothing that needs a payload counts as signed or covered.
// (A payload the verifier can predict needs no read, and still verifies.)
func TestRegistryFailingEveryLayer(t *testing.T) {
	ctx := context.Background()
	tr := testenv.MemRegistry(t, false)
	var failing atomic.Bool
	proxy := testenv.NewFaultProxy(t, tr.Host, func(r *http.Request, _ int) testenv.Fault {
		if failing.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			return testenv.ServerError
		}
		return testenv.Pass
	})
	reg, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, proxy.Host, "app", "v1")
	s := subject(t, reg, proxy.Host+"/app:v1")
	key := testenv.NewKey(t)
	store := cosign.NewStore(reg)
	for _, k := range []testenv.Key{testenv.NewKey(t), key} {
		if _, err := cosign.NewFormat(store, k, nil, nil).Sign(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	failing.Store(true)

	latest := s
	latest.Identity = proxy.Host + "/app:latest"
	_, err = cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, latest)
	if err == nil || signature.ReasonOf(err) != "" || !registry.IsTemporary(err) {
		t.Errorf("Verify(other tag) = %v (reason %q); want a temporary registry error, no verdict", err, signature.ReasonOf(err))
	}
	r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, latest)
	if err == nil || !registry.IsTemporary(err) {
		t.Errorf("Sign(other tag) = %+v, %v; want a temporary registry error", r, err)
	}
	if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
		t.Errorf("Verify(signed tag) = %v; want a pass without reading the payload", err)
	}

	failing.Store(false)
	if att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix); err != nil || len(att.Layers) != 2 {
		t.Errorf("after the outage: %v, %v; want the 2 layers signed before it, nothing added", att, err)
	}
}
