package cosign_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

func registries(t *testing.T) map[string]*testenv.Registry {
	return map[string]*testenv.Registry{
		"distribution": testenv.DockerRegistry(t),
		"ggcr":         testenv.MemRegistry(t, false),
	}
}

func subject(t *testing.T, reg registry.Interface, ref string) signature.Subject {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.Resolve(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return signature.Subject{Repo: r.Context(), Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Identity: r.Name()}
}

func TestStoreSignVerify(t *testing.T) {
	ctx := context.Background()
	for regName, tr := range registries(t) {
		t.Run(regName, func(t *testing.T) {
			reg, err := registry.New()
			if err != nil {
				t.Fatal(err)
			}
			testenv.SeedImage(t, tr.Host, "app", "v1", []string{"linux/amd64", "linux/arm64"})
			other := testenv.SeedSingle(t, tr.Host, "app", "v2")
			s := subject(t, reg, tr.Host+"/app:v1")
			key, foreign := testenv.NewKey(t), testenv.NewKey(t)
			store := cosign.NewStore(reg)

			// A foreign signer's signature first: signet must keep it.
			fr, err := cosign.NewFormat(store, foreign, nil, nil).Sign(ctx, s)
			if err != nil || fr.Skipped {
				t.Fatalf("foreign Sign() = %+v, %v", fr, err)
			}
			f := cosign.NewFormat(store, key, nil, nil)
			r1, err := f.Sign(ctx, s)
			if err != nil || r1.Skipped {
				t.Fatalf("Sign() = %+v, %v", r1, err)
			}
			// Same key again, even under another identity: a no-op.
			s2 := s
			s2.Identity = tr.Host + "/app:latest"
			r2, err := f.Sign(ctx, s2)
			if err != nil || !r2.Skipped || r2.Digest != r1.Digest {
				t.Fatalf("second Sign() = %+v, %v; want skipped at %s", r2, err, r1.Digest)
			}
			att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
			if err != nil || att == nil || len(att.Layers) != 2 {
				t.Fatalf("Fetch() = %+v, %v; want 2 layers (foreign + ours)", att, err)
			}

			for _, k := range []testenv.Key{key, foreign} {
				p, err := cosign.NewVerifier(store, signature.KeyTrust{Key: k.Public()}).Verify(ctx, s)
				if err != nil {
					t.Fatalf("Verify() = %v", err)
				}
				if p.Critical.Identity.DockerReference != tr.Host+"/app:v1" {
					t.Errorf("identity = %q", p.Critical.Identity.DockerReference)
				}
			}

			third := testenv.NewKey(t)
			_, err = cosign.NewVerifier(store, signature.KeyTrust{Key: third.Public()}).Verify(ctx, s)
			if got := signature.ReasonOf(err); got != signature.ReasonUntrustedKey {
				t.Errorf("Verify(other key) = %v (reason %q); want %q", err, got, signature.ReasonUntrustedKey)
			}

			unsigned := subject(t, reg, tr.Host+"/app:v2")
			_, err = cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, unsigned)
			if got := signature.ReasonOf(err); got != signature.ReasonUnsigned {
				t.Errorf("Verify(unsigned) = %v; want reason unsigned", err)
			}
			_ = other

			// Copy the .sig of v1 to v2's tag: a valid signature for the
			// wrong manifest.
			m, err := reg.Manifest(ctx, s.Repo.Tag(cosign.Tag(s.Digest, "sig")))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.PutManifest(ctx, s.Repo.Tag(cosign.Tag(unsigned.Digest, "sig")), m.MediaType, m.Body); err != nil {
				t.Fatal(err)
			}
			_, err = cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, unsigned)
			if got := signature.ReasonOf(err); got != signature.ReasonWrongSubject || !strings.Contains(err.Error(), s.Digest.String()) {
				t.Errorf("Verify(copied signature) = %v; want reason wrong-subject naming %s", err, s.Digest)
			}
		})
	}
}

// TestTamperedPayload rewrites the signed payload (pointing the layer at a
// new blob, as an attacker with push rights would) and expects the
// signature to stop verifying.
func TestTamperedPayload(t *testing.T) {
	ctx := context.Background()
	tr := testenv.MemRegistry(t, false)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, tr.Host, "app", "v1")
	s := subject(t, reg, tr.Host+"/app:v1")
	key := testenv.NewKey(t)
	store := cosign.NewStore(reg)
	if _, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s); err != nil {
		t.Fatal(err)
	}
	att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
	if err != nil {
		t.Fatal(err)
	}
	evil := cosign.Payload("evil.example/app:v1", s.Digest, nil)
	l := cosign.NewLayer(cosign.SimpleSigningMediaType, evil, att.Layers[0].Annotations)
	att.Layers[0] = l
	cfg := att.Config()
	man, _ := att.Manifest(cfg)
	for _, b := range [][]byte{cfg, evil} {
		if err := reg.UploadBlob(ctx, s.Repo, cosign.NewLayer("", b, nil).Digest, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.PutManifest(ctx, s.Repo.Tag(cosign.Tag(s.Digest, "sig")), string(types.OCIManifestSchema1), man); err != nil {
		t.Fatal(err)
	}
	_, err = cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s)
	if err == nil || signature.ReasonOf(err) == "" {
		t.Fatalf("Verify(tampered) = %v; want a verification failure", err)
	}
	t.Logf("tampered payload: %v", err)
}

// TestAppendSerialised signs one subject from many goroutines with
// different keys: every signature must survive (writes to one .sig tag are
// serialised in the process).
func TestAppendSerialised(t *testing.T) {
	ctx := context.Background()
	tr := testenv.MemRegistry(t, false)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, tr.Host, "app", "v1")
	s := subject(t, reg, tr.Host+"/app:v1")
	store := cosign.NewStore(reg)
	const n = 16
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := cosign.NewFormat(store, testenv.NewKey(t), nil, nil).Sign(ctx, s)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
	if err != nil || len(att.Layers) != n {
		t.Fatalf("layers = %d, %v; want %d", len(att.Layers), err, n)
	}
}
