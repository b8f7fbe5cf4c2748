package cosign_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

// sigConfig returns the config descriptor and the layer count of subject's
// .sig manifest.
func sigConfig(t *testing.T, reg registry.Interface, s signature.Subject) (v1.Descriptor, int) {
	t.Helper()
	m, err := reg.Manifest(context.Background(), s.Repo.Tag(cosign.Tag(s.Digest, cosign.SignatureSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Body, &man); err != nil {
		t.Fatal(err)
	}
	return man.Config, len(man.Layers)
}

// TestSharedConfigUploads: with WithSharedConfig every new .sig of a
// repository names the same config blob, uploaded once, so a signature
// costs one blob upload; appending to an existing .sig writes the exact
// config again.
func TestSharedConfigUploads(t *testing.T) {
	ctx := context.Background()
	for regName, tr := range registries(t) {
		t.Run(regName, func(t *testing.T) {
			ct := registry.NewCountingTransport(nil)
			reg, err := registry.New(registry.WithTransport(ct))
			if err != nil {
				t.Fatal(err)
			}
			_, children := testenv.SeedImage(t, tr.Host, "shared/uploads", "v1", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
			store := cosign.NewStore(reg, cosign.WithSharedConfig(), cosign.WithTagListing())
			key := testenv.NewKey(t)
			ct.Reset()
			subjects := signIndexWith(t, reg, store, key, tr.Host+"/shared/uploads:v1", children)
			// subject() resolves with one HEAD per subject; the rest is
			// signing.
			if got, want := ct.Uploads(), int64(len(subjects)+1); got != want {
				t.Errorf("blob uploads = %d; want %d (one payload per signature and the shared config once)", got, want)
			}
			var first v1.Descriptor
			for i, s := range subjects {
				cfg, layers := sigConfig(t, reg, s)
				if i == 0 {
					first = cfg
				}
				if cfg.Digest != first.Digest || layers != 1 {
					t.Errorf("%s: config %s with %d layers; want the shared %s with 1", s.Name(), cfg.Digest, layers, first.Digest)
				}
			}
			// A second key appends: the exact config, naming both layers.
			if _, err := cosign.NewFormat(store, testenv.NewKey(t), nil, nil).Sign(ctx, subjects[0]); err != nil {
				t.Fatal(err)
			}
			cfg, layers := sigConfig(t, reg, subjects[0])
			if layers != 2 || cfg.Digest == first.Digest {
				t.Errorf("after an append: config %s with %d layers; want an own config with 2", cfg.Digest, layers)
			}
			for _, k := range []testenv.Key{key} {
				if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: k.Public()}).Verify(ctx, subjects[0]); err != nil {
					t.Errorf("Verify after append: %v", err)
				}
			}
		})
	}
}

// signIndexWith is signIndex with a given store.
func signIndexWith(t *testing.T, reg *registry.Client, store *cosign.Store, key testenv.Key, tagRef string, children map[string]string) []signature.Subject {
	t.Helper()
	ctx := context.Background()
	idx := subject(t, reg, tagRef)
	subjects := []signature.Subject{idx}
	for _, d := range children {
		s := subject(t, reg, idx.Repo.String()+"@"+d)
		s.Identity = idx.Identity
		subjects = append(subjects, s)
	}
	f := cosign.NewFormat(store, key, nil, nil)
	for _, s := range subjects {
		if r, err := f.Sign(ctx, s); err != nil || r.Skipped {
			t.Fatalf("Sign(%s) = %+v, %v", s.Name(), r, err)
		}
	}
	return subjects
}

// TestSharedConfigInterop proves the shared config with the real tools:
// cosign v2 and v3 verify signet's .sig manifests, podman's policy accepts
// the index and every platform, and `cosign sign` appends to a .sig signet
// wrote with the shared config, after which cosign and signet verify both
// keys and podman still accepts signet's key.
func TestSharedConfigInterop(t *testing.T) {
	ctx := context.Background()
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	platforms := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}
	_, children := testenv.SeedImage(t, tr.Host, "shared/app", "v1", platforms)
	key := testenv.NewKey(t)
	store := cosign.NewStore(reg, cosign.WithSharedConfig(), cosign.WithTagListing())
	subjects := signIndexWith(t, reg, store, key, tr.Host+"/shared/app:v1", children)
	pub := writePub(t, key)
	shared, _ := sigConfig(t, reg, subjects[0])

	cosigns := []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")}
	for _, bin := range cosigns {
		for _, s := range subjects {
			if out, err := cosignVerify(t, bin, pub, s.Name().String()); err != nil {
				t.Errorf("%s verify %s (%s) with the shared config: %v\n%s", filepath.Base(bin), s.Name(), s.MediaType, err, out)
			}
		}
	}

	podman := testenv.Tool(t, "podman-verify")
	podmanVerify := func(pub string, args ...string) (string, error) {
		out, err := exec.Command(podman, append([]string{"--key", pub, "--insecure", "--identity", "default"}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := podmanVerify(pub, tr.Host+"/shared/app:v1")
	if err != nil {
		t.Fatalf("podman policy rejected signet's signatures with the shared config:\n%s", out)
	}
	if n := strings.Count(out, `"allowed":true`); n != 1+len(platforms) {
		t.Errorf("podman allowed %d instances; want %d (index + platforms):\n%s", n, 1+len(platforms), out)
	}

	// cosign appends to signet's .sig (v2 to one child, v3 to another).
	for i, bin := range cosigns {
		s := subjects[1+i]
		t.Run(filepath.Base(bin)+"-appends", func(t *testing.T) {
			if cfg, layers := sigConfig(t, reg, s); cfg.Digest != shared.Digest || layers != 1 {
				t.Fatalf("%s's .sig: config %s, %d layers; want the shared config and 1 layer", s.Name(), cfg.Digest, layers)
			}
			// Two appends by two cosign keys: the second reads a config
			// cosign itself derived from the shared one, which is where a
			// config whose diff_ids do not match the layers in number
			// breaks cosign v2 ("mismatched fs layers (2) and diff ids
			// (1)": checked with an empty diff_ids list).
			var cosignPubs []string
			for n := range 2 {
				dir := t.TempDir()
				gen := exec.Command(bin, "generate-key-pair")
				gen.Dir, gen.Env = dir, cosignEnv(t)
				if out, err := gen.CombinedOutput(); err != nil {
					t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
				}
				args := []string{"sign", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false", "-y",
					"--allow-http-registry", "--allow-insecure-registry"}
				if strings.HasSuffix(bin, "cosign-v3") {
					args = append(args, "--new-bundle-format=false", "--use-signing-config=false")
				}
				// An annotation of its own gives each append its own
				// payload blob: cosign's payloads for one image are
				// otherwise identical, and identical diff_ids would hide a
				// config that went wrong.
				args = append(args, "-a", fmt.Sprintf("append=%d", n+1))
				sign := exec.Command(bin, append(args, s.Name().String())...)
				sign.Env = cosignEnv(t)
				if out, err := sign.CombinedOutput(); err != nil {
					t.Fatalf("cosign sign #%d appending to signet's shared-config .sig: %v\n%s", n+1, err, out)
				}
				if _, layers := sigConfig(t, reg, s); layers != 2+n {
					t.Fatalf("after cosign append #%d: %d layers; want %d", n+1, layers, 2+n)
				}
				cosignPubs = append(cosignPubs, filepath.Join(dir, "cosign.pub"))
			}
			for _, p := range append([]string{pub}, cosignPubs...) {
				if out, err := cosignVerify(t, bin, p, s.Name().String()); err != nil {
					t.Errorf("cosign verify (%s) after cosign appended: %v\n%s", p, err, out)
				}
				k := readPub(t, p)
				if _, err := cosign.NewVerifier(cosign.NewStore(reg), signature.KeyTrust{Key: k}).Verify(ctx, s); err != nil {
					t.Errorf("signet verify (%s) after cosign appended: %v", p, err)
				}
			}
			if out, err := podmanVerify(pub, s.Name().String()); err != nil {
				t.Errorf("podman rejected signet's key after cosign appended: %v\n%s", err, out)
			}
		})
	}
}

// TestSharedConfigMounted: the shared config is uploaded once per registry
// and mounted into every other repository (docker-registry mounts), so
// signatures over several repositories cost one upload each and one more.
func TestSharedConfigMounted(t *testing.T) {
	ctx := context.Background()
	tr := testenv.DockerRegistry(t)
	ct := registry.NewCountingTransport(nil)
	reg, err := registry.New(registry.WithTransport(ct))
	if err != nil {
		t.Fatal(err)
	}
	var subjects []signature.Subject
	for _, repo := range []string{"mounted/a", "mounted/b", "mounted/c"} {
		testenv.SeedSingle(t, tr.Host, repo, "v1")
		subjects = append(subjects, subject(t, reg, tr.Host+"/"+repo+":v1"))
	}
	store := cosign.NewStore(reg, cosign.WithSharedConfig(), cosign.WithTagListing())
	key := testenv.NewKey(t)
	f := cosign.NewFormat(store, key, nil, nil)
	ct.Reset()
	for _, s := range subjects {
		if _, err := f.Sign(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	c := ct.Counts()
	if c.Uploads != int64(len(subjects))+1 || c.Mounts != int64(len(subjects))-1 {
		t.Errorf("uploads, mounts = %d, %d; want %d payloads + 1 config, and %d mounts", c.Uploads, c.Mounts, len(subjects), len(subjects)-1)
	}
	first, _ := sigConfig(t, reg, subjects[0])
	for _, s := range subjects {
		if cfg, _ := sigConfig(t, reg, s); cfg.Digest != first.Digest {
			t.Errorf("%s: config %s; want the shared %s", s.Name(), cfg.Digest, first.Digest)
		}
		if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
			t.Errorf("Verify(%s) = %v", s.Name(), err)
		}
	}
}
