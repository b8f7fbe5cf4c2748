package referrer_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/referrer"
)

// TestPushAfterDeletedReferrer: registries refuse a referrers tag index
// that lists a manifest they no longer have, so once a signature is deleted
// by digest, every later push for the subject would fail; Push drops the
// deleted entries and pushes again, and keeps the live ones.
func TestPushAfterDeletedReferrer(t *testing.T) {
	for regName, tr := range map[string]*testenv.Registry{
		"distribution":   testenv.DockerRegistry(t),
		"ggcr":           testenv.MemRegistry(t, false),
		"ggcr-referrers": testenv.MemRegistry(t, true),
	} {
		t.Run(regName, func(t *testing.T) {
			ctx := testCtx(t)
			c := newClient(t)
			s := seed(t, c, tr.Host, "deleted")
			st := referrer.NewStore(c)
			var digests []v1.Hash
			for i := range 4 {
				if i == 3 {
					for _, d := range digests[:2] {
						if err := c.DeleteManifest(ctx, s.Repo, d); err != nil {
							t.Fatal(err)
						}
					}
				}
				blob := fmt.Appendf(nil, `{"signature":%d}`, i)
				body, desc := manifest(t, s, blob)
				if err := st.Push(ctx, s, blob, body, desc); err != nil {
					t.Fatalf("Push(%d) = %v", i, err)
				}
				digests = append(digests, desc.Digest)
			}
			ds, err := c.ListReferrers(ctx, s.Repo, s.Digest, artifactType)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := sortedDigests(ds), sortedDigests([]v1.Descriptor{{Digest: digests[2]}, {Digest: digests[3]}}); !slices.Equal(got, want) {
				t.Errorf("ListReferrers() = %v; want the live %v", got, want)
			}
		})
	}
}

// TestPushDeletedReferrerUncheckable: when a listed referrer cannot be
// checked (the registry fails), Push drops nothing and fails, so that no
// live signature leaves the index; once the registry answers, it succeeds.
func TestPushDeletedReferrerUncheckable(t *testing.T) {
	ctx := testCtx(t)
	tr := testenv.MemRegistry(t, false)
	var failPath atomic.Pointer[string]
	proxy := testenv.NewFaultProxy(t, tr.Host, func(r *http.Request, _ int) testenv.Fault {
		if p := failPath.Load(); p != nil && r.Method == http.MethodHead && r.URL.Path == *p {
			return testenv.ServerError
		}
		return testenv.Pass
	})
	c, err := registry.New(registry.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s := seed(t, c, proxy.Host, "uncheckable")
	st := referrer.NewStore(c)
	push := func(i int) (v1.Hash, error) {
		blob := fmt.Appendf(nil, `{"signature":%d}`, i)
		body, desc := manifest(t, s, blob)
		return desc.Digest, st.Push(ctx, s, blob, body, desc)
	}
	gone, err := push(0)
	if err != nil {
		t.Fatal(err)
	}
	live, err := push(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteManifest(ctx, s.Repo, gone); err != nil {
		t.Fatal(err)
	}
	p := "/v2/" + s.Repo.RepositoryStr() + "/manifests/" + live.String()
	failPath.Store(&p)
	if _, err := push(2); err == nil || !strings.Contains(err.Error(), live.String()) {
		t.Errorf("Push() while %s cannot be checked = %v; want an error naming it", live, err)
	}
	failPath.Store(nil)
	third, err := push(2)
	if err != nil {
		t.Fatalf("Push() once the registry answers = %v", err)
	}
	ds, err := c.ListReferrers(ctx, s.Repo, s.Digest, artifactType)
	if got, want := sortedDigests(ds), sortedDigests([]v1.Descriptor{{Digest: live}, {Digest: third}}); err != nil || !slices.Equal(got, want) {
		t.Errorf("ListReferrers() = %v, %v; want %v", got, err, want)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t testing.TB) *registry.Client {
	t.Helper()
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seed pushes an image to host/repo:v1 and returns it as a subject.
func seed(t testing.TB, c *registry.Client, host, repo string) signature.Subject {
	t.Helper()
	testenv.SeedSingle(t, host, repo, "v1")
	ref, err := name.ParseReference(host + "/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return signature.Subject{Repo: ref.Context(), Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Identity: ref.Name()}
}

func sortedDigests(ds []v1.Descriptor) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Digest.String())
	}
	slices.Sort(out)
	return out
}
