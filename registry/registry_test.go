package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

// A backend is one kind of real registry the tests run against.
type backend struct {
	name  string
	start func(testing.TB) *testenv.Registry
	// referrers: the registry serves the OCI referrers API.
	referrers bool
	// catalogPages: the registry paginates the catalog with Link headers
	// (go-containerregistry's registry ignores n's continuation).
	catalogPages bool
	// tagPages: the registry honours n on tag lists (distribution 2.8
	// answers with all tags).
	tagPages bool
}

var backends = []backend{
	{name: "distribution", start: testenv.DockerRegistry, catalogPages: true},
	{name: "ggcr", start: func(t testing.TB) *testenv.Registry { return testenv.MemRegistry(t, false) }, tagPages: true},
	{name: "ggcr-referrers", start: func(t testing.TB) *testenv.Registry { return testenv.MemRegistry(t, true) }, referrers: true, tagPages: true},
}

// forEachBackend runs f against every backend, each with its own registry.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend, r *testenv.Registry)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f(t, b, b.start(t))
		})
	}
}

// newClient returns a Client whose requests are counted.
func newClient(t testing.TB, opts ...registry.Option) (*registry.Client, *registry.CountingTransport) {
	t.Helper()
	ct := registry.NewCountingTransport(nil)
	c, err := registry.New(append([]registry.Option{registry.WithTransport(ct)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, ct
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustRef(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatalf("ParseReference(%q): %v", s, err)
	}
	return ref
}

func mustRepo(t testing.TB, s string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(s)
	if err != nil {
		t.Fatalf("NewRepository(%q): %v", s, err)
	}
	return repo
}

func mustHash(t testing.TB, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatalf("NewHash(%q): %v", s, err)
	}
	return h
}

func sha(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// artifact uploads an empty config and one layer to repo and returns an OCI
// image manifest for them with the given subject (if any) and artifactType.
func artifact(t testing.TB, c *registry.Client, repo name.Repository, subject *v1.Descriptor, artifactType string) []byte {
	t.Helper()
	ctx := testCtx(t)
	config := []byte("{}")
	layer := randomBytes(t, 32)
	for _, b := range [][]byte{config, layer} {
		if err := c.UploadBlob(ctx, repo, sha(b), b); err != nil {
			t.Fatalf("UploadBlob: %v", err)
		}
	}
	// The artifact type goes in the config's media type, the form
	// registries that predate artifactType (and go-containerregistry's)
	// report in referrer lists.
	configType := types.MediaType("application/vnd.oci.empty.v1+json")
	if artifactType != "" {
		configType = types.MediaType(artifactType)
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"config": v1.Descriptor{
			MediaType: configType, Digest: sha(config), Size: int64(len(config)),
		},
		"layers": []v1.Descriptor{{
			MediaType: "application/octet-stream", Digest: sha(layer), Size: int64(len(layer)),
		}},
	}
	if subject != nil {
		m["subject"] = subject
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResolveAndManifest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		idx, children := testenv.SeedImage(t, r.Host, "app", "v1", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
		c, ct := newClient(t)

		tests := []struct {
			ref       string
			digest    string
			mediaType types.MediaType
		}{
			{r.Host + "/app:v1", idx, types.OCIImageIndex},
			{r.Host + "/app@" + idx, idx, types.OCIImageIndex},
			{r.Host + "/app@" + children["linux/arm/v7"], children["linux/arm/v7"], types.OCIManifestSchema1},
		}
		for _, tt := range tests {
			ref := mustRef(t, tt.ref)
			d, err := c.Resolve(ctx, ref)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", ref, err)
			}
			if d.Digest.String() != tt.digest || d.MediaType != string(tt.mediaType) || d.Size <= 0 {
				t.Errorf("Resolve(%s) = %+v; want digest %s, media type %s", ref, d, tt.digest, tt.mediaType)
			}
			m, err := c.Manifest(ctx, ref)
			if err != nil {
				t.Fatalf("Manifest(%s): %v", ref, err)
			}
			if m.Descriptor != d || int64(len(m.Body)) != d.Size || sha(m.Body) != d.Digest {
				t.Errorf("Manifest(%s) descriptor %+v (body %d bytes); want %+v", ref, m.Descriptor, len(m.Body), d)
			}
		}

		// Once authenticated, a Resolve is exactly one HEAD and a Manifest
		// one GET.
		ct.Reset()
		if _, err := c.Resolve(ctx, mustRef(t, r.Host+"/app:v1")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Manifest(ctx, mustRef(t, r.Host+"/app:v1")); err != nil {
			t.Fatal(err)
		}
		if got := ct.Counts(); got.Requests != 2 || got.HEAD != 1 || got.GET != 1 {
			t.Errorf("Resolve+Manifest cost %+v; want one HEAD and one GET", got)
		}
	})
}

func TestPutManifest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, ct := newClient(t)
		repo := mustRepo(t, r.Host+"/put")
		body := artifact(t, c, repo, nil, "application/vnd.example+json")
		want := sha(body)

		for _, ref := range []string{repo.String() + ":by-tag", repo.String() + "@" + want.String()} {
			t.Run(strings.TrimPrefix(ref, repo.String()), func(t *testing.T) {
				ct.Reset()
				res, err := c.PutManifest(ctx, mustRef(t, ref), string(types.OCIManifestSchema1), body)
				if err != nil {
					t.Fatalf("PutManifest(%s): %v", ref, err)
				}
				if res.Digest != want || res.Subject {
					t.Errorf("PutManifest(%s) = %+v; want digest %s, no subject", ref, res, want)
				}
				if got := ct.Counts(); got.Requests != 1 || got.PUT != 1 {
					t.Errorf("PutManifest cost %+v; want one PUT", got)
				}
				m, err := c.Manifest(ctx, mustRef(t, ref))
				if err != nil {
					t.Fatalf("Manifest(%s): %v", ref, err)
				}
				if !bytes.Equal(m.Body, body) || m.MediaType != string(types.OCIManifestSchema1) {
					t.Errorf("Manifest(%s) = %s %q; want the bytes put", ref, m.MediaType, m.Body)
				}
			})
		}

		// A digest reference that does not match the body is refused
		// before any request.
		ct.Reset()
		wrong := mustRef(t, repo.String()+"@"+sha([]byte("other")).String())
		if _, err := c.PutManifest(ctx, wrong, string(types.OCIManifestSchema1), body); !errors.Is(err, registry.ErrDigestMismatch) {
			t.Errorf("PutManifest(%s) error = %v; want ErrDigestMismatch", wrong, err)
		}
		if n := ct.Requests(); n != 0 {
			t.Errorf("refused PutManifest sent %d requests", n)
		}

		// Delete by digest; the tag that pointed at it goes too.
		if err := c.DeleteManifest(ctx, repo, want); err != nil {
			t.Fatalf("DeleteManifest: %v", err)
		}
		if _, err := c.Resolve(ctx, mustRef(t, repo.String()+"@"+want.String())); !registry.IsNotFound(err) {
			t.Errorf("Resolve after delete: %v; want not found", err)
		}
	})
}

func TestSubjectHeader(t *testing.T) {
	subjectBody := func(t *testing.T, c *registry.Client, host string) []byte {
		digest := testenv.SeedSingle(t, host, "subj", "v1")
		d, err := c.Resolve(testCtx(t), mustRef(t, host+"/subj@"+digest))
		if err != nil {
			t.Fatal(err)
		}
		return artifact(t, c, mustRepo(t, host+"/subj"), &v1.Descriptor{
			MediaType: types.MediaType(d.MediaType), Digest: d.Digest, Size: d.Size,
		}, "application/vnd.example.sig")
	}
	// None of the real registries at hand reports OCI-Subject.
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		c, _ := newClient(t)
		body := subjectBody(t, c, r.Host)
		res, err := c.PutManifest(testCtx(t), mustRef(t, r.Host+"/subj:sig"), string(types.OCIManifestSchema1), body)
		if err != nil {
			t.Fatal(err)
		}
		if res.Subject {
			t.Errorf("PutManifest.Subject = true on %s; want false", b.name)
		}
	})
	// go-containerregistry's registry with a front that adds the header
	// the OCI 1.1 spec asks for.
	t.Run("ggcr-oci-subject", func(t *testing.T) {
		host := subjectRegistry(t)
		c, _ := newClient(t)
		body := subjectBody(t, c, host)
		res, err := c.PutManifest(testCtx(t), mustRef(t, host+"/subj:sig"), string(types.OCIManifestSchema1), body)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Subject {
			t.Errorf("PutManifest.Subject = false; want true")
		}
	})
}

func TestBlobs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, ct := newClient(t)
		repo := mustRepo(t, r.Host+"/blobs")
		body := randomBytes(t, 4096)
		d := sha(body)

		// Authenticate first so that the counts below are the upload's.
		if _, err := c.BlobExists(ctx, repo, d); err != nil {
			t.Fatal(err)
		}
		if err := c.UploadBlob(ctx, repo, sha([]byte("warm")), []byte("warm")); err != nil {
			t.Fatal(err)
		}
		ct.Reset()
		if err := c.UploadBlob(ctx, repo, d, body); err != nil {
			t.Fatalf("UploadBlob: %v", err)
		}
		// The warm-up upload found out whether the registry takes a blob
		// in the POST (go-containerregistry's does, distribution 2.8 opens
		// a session and wants a PUT).
		if b.name == "distribution" {
			if got := ct.Counts(); got.Requests != 2 || got.POST != 1 || got.PUT != 1 || got.Uploads != 1 {
				t.Errorf("UploadBlob cost %+v; want POST+PUT, one upload", got)
			}
		} else if got := ct.Counts(); got.Requests != 1 || got.POST != 1 || got.Uploads != 1 {
			t.Errorf("UploadBlob cost %+v; want one POST carrying the blob", got)
		}

		ok, err := c.BlobExists(ctx, repo, d)
		if err != nil || !ok {
			t.Errorf("BlobExists(uploaded) = %v, %v; want true", ok, err)
		}
		got, err := c.Blob(ctx, repo, d, int64(len(body)))
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("Blob = %d bytes, %v; want the %d bytes uploaded", len(got), err, len(body))
		}
		if _, err := c.Blob(ctx, repo, d, int64(len(body)-1)); !errors.Is(err, registry.ErrTooLarge) {
			t.Errorf("Blob(limit %d) error = %v; want ErrTooLarge", len(body)-1, err)
		}
		// Uploading again is harmless.
		if err := c.UploadBlob(ctx, repo, d, body); err != nil {
			t.Errorf("UploadBlob again: %v", err)
		}
		if err := c.UploadBlob(ctx, repo, d, body[1:]); !errors.Is(err, registry.ErrDigestMismatch) {
			t.Errorf("UploadBlob(wrong content) error = %v; want ErrDigestMismatch", err)
		}

		// The empty blob is a blob like any other.
		if err := c.UploadBlob(ctx, repo, sha(nil), []byte{}); err != nil {
			t.Errorf("UploadBlob(empty): %v", err)
		}
		if got, err := c.Blob(ctx, repo, sha(nil), 1); err != nil || len(got) != 0 {
			t.Errorf("Blob(empty) = %q, %v; want no bytes", got, err)
		}

		missing := sha([]byte("missing"))
		if ok, err := c.BlobExists(ctx, repo, missing); ok || err != nil {
			t.Errorf("BlobExists(missing) = %v, %v; want false, nil", ok, err)
		}
		if _, err := c.Blob(ctx, repo, missing, 1024); !registry.IsNotFound(err) {
			t.Errorf("Blob(missing) error = %v; want not found", err)
		}
	})
}

func TestTags(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, _ := newClient(t)
		repo := mustRepo(t, r.Host+"/tags")
		body := artifact(t, c, repo, nil, "")
		var want []string
		for i := range 120 {
			tag := fmt.Sprintf("t%03d", i)
			want = append(want, tag)
			if _, err := c.PutManifest(ctx, repo.Tag(tag), string(types.OCIManifestSchema1), body); err != nil {
				t.Fatalf("PutManifest(%s): %v", tag, err)
			}
		}
		for _, pageSize := range []int{1000, 50, 40} {
			t.Run(fmt.Sprintf("n=%d", pageSize), func(t *testing.T) {
				pc, ct := newClient(t, registry.WithPageSize(pageSize))
				got, err := pc.Tags(ctx, repo)
				if err != nil {
					t.Fatalf("Tags: %v", err)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("Tags = %d tags %v…; want the %d pushed", len(got), got[:min(len(got), 3)], len(want))
				}
				// 120 tags in pages of n, plus at most one empty page
				// for a registry without Link headers.
				pages := ct.Count(http.MethodGet) - ct.Pings()
				lo, hi := int64((120+pageSize-1)/pageSize), int64(120/pageSize+1)
				if !b.tagPages {
					lo, hi = 1, 1
				}
				if pages < lo || pages > hi {
					t.Errorf("Tags took %d pages; want %d to %d", pages, lo, hi)
				}
			})
		}
		got, err := c.Tags(ctx, mustRepo(t, r.Host+"/no-such-repo"))
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("Tags(unknown repo) = %v, %v; want an empty list", got, err)
		}
	})
}

func TestCatalog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		want := []string{"cat/a", "cat/b", "cat/c", "dog"}
		for _, repo := range want {
			testenv.SeedSingle(t, r.Host, repo, "v1")
		}
		reg, err := name.NewRegistry(r.Host)
		if err != nil {
			t.Fatal(err)
		}
		sizes := []int{1000}
		if b.catalogPages {
			sizes = append(sizes, 3)
		}
		for _, n := range sizes {
			c, _ := newClient(t, registry.WithPageSize(n))
			got, err := c.Catalog(ctx, reg)
			if err != nil {
				t.Fatalf("Catalog(n=%d): %v", n, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("Catalog(n=%d) = %v; want %v", n, got, want)
			}
		}
	})
}

func TestReferrers(t *testing.T) {
	const sigType = "application/vnd.cncf.notary.signature"
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, _ := newClient(t)
		repo := mustRepo(t, r.Host+"/ref")
		digest := testenv.SeedSingle(t, r.Host, "ref", "v1")
		subject, err := c.Resolve(ctx, repo.Digest(digest))
		if err != nil {
			t.Fatal(err)
		}
		sig := artifact(t, c, repo, &v1.Descriptor{
			MediaType: types.MediaType(subject.MediaType), Digest: subject.Digest, Size: subject.Size,
		}, sigType)
		if _, err := c.PutManifest(ctx, repo.Digest(sha(sig).String()), string(types.OCIManifestSchema1), sig); err != nil {
			t.Fatal(err)
		}

		for _, filter := range []string{"", sigType, "application/vnd.other"} {
			idx, supported, err := c.Referrers(ctx, repo, subject.Digest, filter)
			if err != nil {
				t.Fatalf("Referrers(%q): %v", filter, err)
			}
			if supported != b.referrers {
				t.Fatalf("Referrers(%q) supported = %v; want %v", filter, supported, b.referrers)
			}
			if !supported {
				if idx != nil {
					t.Errorf("Referrers(%q) unsupported but returned %+v", filter, idx)
				}
				continue
			}
			wantN := 1
			if filter == "application/vnd.other" {
				wantN = 0
			}
			if len(idx.Manifests) != wantN || (wantN == 1 && idx.Manifests[0].Digest != sha(sig)) {
				t.Errorf("Referrers(%q) = %+v; want %d entries for %s", filter, idx.Manifests, wantN, sha(sig))
			}
		}

		// A repository that does not exist says nothing about the API on
		// a registry that has one.
		_, supported, err := c.Referrers(ctx, mustRepo(t, r.Host+"/nothing-here"), subject.Digest, "")
		if b.referrers && (!registry.IsNotFound(err) || supported) {
			t.Errorf("Referrers(unknown repo) = %v, %v; want a not-found error", supported, err)
		}
		if !b.referrers && (err != nil || supported) {
			t.Errorf("Referrers(unknown repo) = %v, %v; want unsupported", supported, err)
		}
	})
	if got, want := registry.ReferrersTag(mustHash(t, "sha256:"+strings.Repeat("ab", 32))), "sha256-"+strings.Repeat("ab", 32); got != want {
		t.Errorf("ReferrersTag = %q; want %q", got, want)
	}
}

func TestManifestSizeLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, ct := newClient(t)
		digest := testenv.SeedSingle(t, r.Host, "big", "v1")
		m, err := c.Manifest(ctx, mustRef(t, r.Host+"/big@"+digest))
		if err != nil {
			t.Fatal(err)
		}
		// The same manifest with an annotation that takes it over 4 MiB.
		var doc map[string]any
		if err := json.Unmarshal(m.Body, &doc); err != nil {
			t.Fatal(err)
		}
		doc["annotations"] = map[string]string{"filler": strings.Repeat("x", registry.MaxManifestSize)}
		big, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}

		ct.Reset()
		_, err = c.PutManifest(ctx, mustRef(t, r.Host+"/big:huge"), string(types.OCIManifestSchema1), big)
		if !errors.Is(err, registry.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(len(big))) ||
			!strings.Contains(err.Error(), fmt.Sprint(registry.MaxManifestSize)) {
			t.Errorf("PutManifest(%d bytes) error = %v; want ErrTooLarge naming size and limit", len(big), err)
		}
		if n := ct.Requests(); n != 0 {
			t.Errorf("refused PutManifest sent %d requests", n)
		}

		// Put it with a plain request; the read side must refuse it.
		req, _ := http.NewRequest(http.MethodPut, r.URL()+"/v2/big/manifests/huge", bytes.NewReader(big))
		req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Skipf("%s refuses a %d-byte manifest itself: %s %s", b.name, len(big), resp.Status, msg)
		}
		ref := mustRef(t, r.Host+"/big:huge")
		if _, err := c.Manifest(ctx, ref); !errors.Is(err, registry.ErrTooLarge) ||
			!strings.Contains(err.Error(), fmt.Sprint(registry.MaxManifestSize)) {
			t.Errorf("Manifest(%s) error = %v; want ErrTooLarge naming the limit", ref, err)
		}
		if _, err := c.Resolve(ctx, ref); !errors.Is(err, registry.ErrTooLarge) {
			t.Errorf("Resolve(%s) error = %v; want ErrTooLarge", ref, err)
		}
	})
}

func TestNotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, _ := newClient(t)
		testenv.SeedSingle(t, r.Host, "app", "v1")
		repo := mustRepo(t, r.Host+"/app")
		missing := sha([]byte("nope"))
		tests := []struct {
			name   string
			op     func() error
			method string
			path   string
		}{
			{"resolve tag", func() error { _, err := c.Resolve(ctx, repo.Tag("nope")); return err }, "HEAD", "/v2/app/manifests/nope"},
			{"manifest tag", func() error { _, err := c.Manifest(ctx, repo.Tag("nope")); return err }, "GET", "/v2/app/manifests/nope"},
			{"manifest digest", func() error { _, err := c.Manifest(ctx, repo.Digest(missing.String())); return err }, "GET", "/v2/app/manifests/" + missing.String()},
			{"blob", func() error { _, err := c.Blob(ctx, repo, missing, 10); return err }, "GET", "/v2/app/blobs/" + missing.String()},
			{"unknown repo", func() error { _, err := c.Manifest(ctx, mustRef(t, r.Host+"/other:v1")); return err }, "GET", "/v2/other/manifests/v1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.op()
				var e *registry.Error
				if !errors.As(err, &e) {
					t.Fatalf("error = %v (%T); want *registry.Error", err, err)
				}
				if !registry.IsNotFound(err) || registry.IsTemporary(err) {
					t.Errorf("IsNotFound(%v) = false or IsTemporary = true", err)
				}
				wantURL := r.URL() + tt.path
				if e.Method != tt.method || e.URL != wantURL || e.StatusCode != http.StatusNotFound {
					t.Errorf("error = %q %q %d; want %s %s 404", e.Method, e.URL, e.StatusCode, tt.method, wantURL)
				}
				if prefix := tt.method + " " + wantURL + ": 404 "; !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("error reads %q; want it to start %q", err, prefix)
				}
				if tt.method == "GET" && e.Code == "" {
					t.Errorf("error %q has no registry error code", err)
				}
				t.Log(err)
			})
		}
	})
}

// TestAuthOnce checks that the auth handshake happens once per repository
// and scope, also when many goroutines start at once.
func TestAuthOnce(t *testing.T) {
	r := testenv.MemRegistry(t, false)
	ctx := testCtx(t)
	testenv.SeedSingle(t, r.Host, "a", "v1")
	testenv.SeedSingle(t, r.Host, "b", "v1")
	c, ct := newClient(t)

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.Resolve(ctx, mustRef(t, r.Host+"/a:v1")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := ct.Pings(); got != 1 {
		t.Errorf("16 concurrent first reads of one repository pinged %d times; want 1", got)
	}
	for range 5 {
		if _, err := c.Manifest(ctx, mustRef(t, r.Host+"/a:v1")); err != nil {
			t.Fatal(err)
		}
	}
	if got := ct.Pings(); got != 1 {
		t.Errorf("later reads pinged again: %d pings; want 1", got)
	}
	// Writing asks for push scope: one more handshake, which then also
	// serves reads.
	repoA := mustRepo(t, r.Host+"/a")
	for range 3 {
		if err := c.UploadBlob(ctx, repoA, sha([]byte("x")), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Resolve(ctx, mustRef(t, r.Host+"/a:v1")); err != nil {
		t.Fatal(err)
	}
	if got := ct.Pings(); got != 2 {
		t.Errorf("after writes: %d pings; want 2", got)
	}
	if _, err := c.Resolve(ctx, mustRef(t, r.Host+"/b:v1")); err != nil {
		t.Fatal(err)
	}
	if got := ct.Pings(); got != 3 {
		t.Errorf("after a second repository: %d pings; want 3", got)
	}
}

// TestTokenAuth runs the client against go-containerregistry's registry
// behind a token-auth front: pings and token exchanges happen once per
// repository and scope, and an expired token is refreshed in the middle of
// a PUT without losing its body.
func TestTokenAuth(t *testing.T) {
	host, tokens, gen := tokenRegistry(t)
	ctx := testCtx(t)
	c, ct := newClient(t)
	repo := mustRepo(t, host+"/secure")

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			b := []byte(fmt.Sprintf("blob %d", i))
			if err := c.UploadBlob(ctx, repo, sha(b), b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	body := artifact(t, c, repo, nil, "")
	if _, err := c.PutManifest(ctx, repo.Tag("v1"), string(types.OCIManifestSchema1), body); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, repo.Tag("v1")); err != nil {
		t.Fatal(err)
	}
	if p, tok := ct.Pings(), tokens.Load(); p != 1 || tok != 1 {
		t.Errorf("pings, token requests = %d, %d; want 1, 1", p, tok)
	}
	// A read-only repository gets its own pull token.
	if _, err := c.Tags(ctx, mustRepo(t, host+"/other")); err != nil {
		t.Fatal(err)
	}
	if p, tok := ct.Pings(), tokens.Load(); p != 2 || tok != 2 {
		t.Errorf("pings, token requests = %d, %d; want 2, 2", p, tok)
	}

	// Expire all tokens: the next PUT meets a 401, the token is refreshed
	// and the PUT sent again, body included.
	gen.Add(1)
	res, err := c.PutManifest(ctx, repo.Tag("v2"), string(types.OCIManifestSchema1), body)
	if err != nil || res.Digest != sha(body) {
		t.Fatalf("PutManifest after token expiry = %+v, %v", res, err)
	}
	if tok := tokens.Load(); tok != 3 {
		t.Errorf("token requests after expiry = %d; want 3", tok)
	}
	m, err := c.Manifest(ctx, repo.Tag("v2"))
	if err != nil || !bytes.Equal(m.Body, body) {
		t.Errorf("Manifest(v2) = %v, %v; want the bytes put", m, err)
	}
}

// TestResolveWithoutDigestHeader: a registry that leaves
// Docker-Content-Digest out of HEAD answers costs one GET more.
func TestResolveWithoutDigestHeader(t *testing.T) {
	host := noDigestOnHead(t)
	digest := testenv.SeedSingle(t, host, "app", "v1")
	c, ct := newClient(t)
	ctx := testCtx(t)
	if _, err := c.Resolve(ctx, mustRef(t, host+"/app:v1")); err != nil {
		t.Fatal(err)
	}
	ct.Reset()
	d, err := c.Resolve(ctx, mustRef(t, host+"/app:v1"))
	if err != nil || d.Digest.String() != digest || d.MediaType != string(types.OCIManifestSchema1) {
		t.Fatalf("Resolve = %+v, %v; want %s", d, err, digest)
	}
	if got := ct.Counts(); got.HEAD != 1 || got.GET != 1 || got.Requests != 2 {
		t.Errorf("Resolve cost %+v; want HEAD then GET", got)
	}
}
