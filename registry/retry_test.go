package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

// TestRetryFaults puts a front that fails a share of requests (429, 500,
// 502, reset connections, lost answers) before real registries and checks
// that a signing-shaped workload still succeeds, within bounded attempts.
func TestRetryFaults(t *testing.T) {
	kinds := []testenv.Fault{testenv.TooMany, testenv.ServerError, testenv.BadGateway, testenv.ResetBefore, testenv.ResetAfter, testenv.BadGatewayAfter}
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		digest := testenv.SeedSingle(t, r.Host, "app", "v1")
		// Every third request fails, cycling through the kinds; no request
		// fails twice in a row, so 5 attempts always suffice.
		front := testenv.NewFaultProxy(t, r.Host, func(_ *http.Request, n int) testenv.Fault {
			if n%3 != 1 {
				return testenv.Pass
			}
			return kinds[(n/3)%len(kinds)]
		})
		const attempts = 5
		c, ct := newClient(t, registry.WithRetries(attempts, time.Millisecond))
		repo := mustRepo(t, front.Host+"/app")

		ops := 0
		for i := range 12 {
			ops++
			d, err := c.Resolve(ctx, repo.Digest(digest))
			if err != nil {
				t.Fatalf("Resolve #%d: %v", i, err)
			}
			ops += 2
			sig := artifact(t, c, repo, nil, fmt.Sprintf("application/vnd.test.%d", i))
			ops++
			if _, err := c.PutManifest(ctx, repo.Tag(fmt.Sprintf("sig-%d", i)), string(types.OCIManifestSchema1), sig); err != nil {
				t.Fatalf("PutManifest #%d: %v", i, err)
			}
			ops++
			m, err := c.Manifest(ctx, repo.Tag(fmt.Sprintf("sig-%d", i)))
			if err != nil || m.Digest != sha(sig) {
				t.Fatalf("Manifest #%d = %v, %v; want %s", i, m, err, sha(sig))
			}
			_ = d
		}
		tags, err := c.Tags(ctx, repo)
		if err != nil || len(tags) != 13 {
			t.Fatalf("Tags = %d tags, %v; want 13", len(tags), err)
		}

		injected := map[testenv.Fault]int{}
		for _, s := range front.Requests(nil) {
			injected[s.Fault]++
		}
		for _, k := range kinds {
			if injected[k] == 0 {
				t.Errorf("testenv.Fault %s was never injected (%v)", k, injected)
			}
		}
		// Each operation is one or two requests plus an upload restart at
		// worst; each is attempted at most 5 times.
		if n := len(front.Requests(nil)); n > ops*2*attempts {
			t.Errorf("%d requests reached the registry front for %d operations", n, ops)
		}
		t.Logf("%d operations, %d requests sent, faults %v", ops, ct.Requests(), injected)
	})
}

// TestRetryAfter checks that a 429's Retry-After is waited out.
func TestRetryAfter(t *testing.T) {
	r := testenv.MemRegistry(t, false)
	testenv.SeedSingle(t, r.Host, "app", "v1")
	first := true
	front := testenv.NewFaultProxy(t, r.Host, func(req *http.Request, _ int) testenv.Fault {
		if req.Method == http.MethodHead && first {
			first = false
			return testenv.TooManyWait
		}
		return testenv.Pass
	})
	host := front.Host

	c, _ := newClient(t, registry.WithRetries(3, time.Millisecond))
	if _, err := c.Resolve(testCtx(t), mustRef(t, host+"/app:v1")); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	heads := front.Requests(func(s testenv.SeenRequest) bool { return s.Method == http.MethodHead })
	if len(heads) != 2 {
		t.Fatalf("saw %d HEAD requests; want 2 (429, then success)", len(heads))
	}
	if gap := heads[1].At.Sub(heads[0].At); gap < time.Second {
		t.Errorf("retried after %s; Retry-After asked for 1s", gap)
	}
}

// TestRetryBounds checks what is not retried, and that retries stop.
func TestRetryBounds(t *testing.T) {
	r := testenv.MemRegistry(t, false)
	testenv.SeedSingle(t, r.Host, "app", "v1")
	front := testenv.NewFaultProxy(t, r.Host, func(req *http.Request, _ int) testenv.Fault {
		if strings.Contains(req.URL.Path, "/manifests/broken") {
			return testenv.ServerError
		}
		return testenv.Pass
	})
	const attempts = 4
	c, _ := newClient(t, registry.WithRetries(attempts, time.Millisecond))
	ctx := testCtx(t)

	count := func(path string) int {
		return len(front.Requests(func(s testenv.SeenRequest) bool { return strings.HasSuffix(s.Path, path) }))
	}

	t.Run("persistent 500", func(t *testing.T) {
		_, err := c.Manifest(ctx, mustRef(t, front.Host+"/app:broken"))
		var e *registry.Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusInternalServerError || !registry.IsTemporary(err) {
			t.Fatalf("error = %v; want a temporary *registry.Error with status 500", err)
		}
		if n := count("/manifests/broken"); n != attempts {
			t.Errorf("the registry saw %d attempts; want %d", n, attempts)
		}
	})
	t.Run("404 not retried", func(t *testing.T) {
		_, err := c.Manifest(ctx, mustRef(t, front.Host+"/app:missing"))
		if !registry.IsNotFound(err) {
			t.Fatalf("error = %v; want not found", err)
		}
		if n := count("/manifests/missing"); n != 1 {
			t.Errorf("the registry saw %d attempts; want 1", n)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		c, _ := newClient(t)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Manifest(ctx, mustRef(t, slow+"/app:v1"))
		if !errors.Is(err, context.DeadlineExceeded) || registry.IsTemporary(err) {
			t.Errorf("error = %v; want the context's deadline, not temporary", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("returned after %s; the context ended after 300ms", d)
		}
	})
}

// TestUploadRestart loses the answer to an upload's PUT after the registry
// committed it: the retried PUT finds its session gone, and the upload
// starts over with a new POST.
func TestUploadRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		lost := false
		front := testenv.NewFaultProxy(t, r.Host, func(req *http.Request, _ int) testenv.Fault {
			if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/") && !lost {
				lost = true
				return testenv.BadGatewayAfter
			}
			return testenv.Pass
		})
		c, _ := newClient(t, registry.WithRetries(5, time.Millisecond))
		repo := mustRepo(t, front.Host+"/up")
		body := randomBytes(t, 1000)
		ctx := testCtx(t)
		if err := c.UploadBlob(ctx, repo, sha(body), body); err != nil {
			t.Fatalf("UploadBlob: %v", err)
		}
		got, err := c.Blob(ctx, repo, sha(body), 1000)
		if err != nil || string(got) != string(body) {
			t.Fatalf("Blob after restarted upload = %d bytes, %v", len(got), err)
		}
		posts := front.Requests(func(s testenv.SeenRequest) bool { return s.Method == http.MethodPost })
		puts := front.Requests(func(s testenv.SeenRequest) bool { return s.Method == http.MethodPut })
		t.Logf("%d POST, %d PUT", len(posts), len(puts))
		if len(posts) > 2 || len(puts) > 3 {
			t.Errorf("upload took %d POST and %d PUT; want at most 2 and 3", len(posts), len(puts))
		}
	})
}

// TestRegistryRestart stops docker-registry while a client works against it
// and starts it again: requests that meet a refused connection are retried
// until it is back.
func TestRegistryRestart(t *testing.T) {
	r := testenv.DockerRegistry(t)
	digest := testenv.SeedSingle(t, r.Host, "app", "v1")
	c, _ := newClient(t, registry.WithRetries(10, 100*time.Millisecond))
	ctx := testCtx(t)
	ref := mustRef(t, r.Host+"/app@"+digest)
	if _, err := c.Resolve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	done := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		done <- r.Start()
	}()
	d, err := c.Resolve(ctx, ref)
	if startErr := <-done; startErr != nil {
		t.Fatal(startErr)
	}
	if err != nil || d.Digest.String() != digest {
		t.Fatalf("Resolve across a restart = %v, %v; want %s", d, err, digest)
	}
	// And a write after the restart, on the same storage.
	body := []byte("after restart")
	if err := c.UploadBlob(ctx, ref.Context(), sha(body), body); err != nil {
		t.Fatalf("UploadBlob after restart: %v", err)
	}

	// With the registry down for good, the error is typed and temporary.
	r.Stop()
	c2, _ := newClient(t, registry.WithRetries(2, time.Millisecond))
	_, err = c2.Resolve(ctx, ref)
	if err == nil || !registry.IsTemporary(err) {
		t.Errorf("Resolve against a stopped registry: %v; want a temporary error", err)
	}
	t.Log(err)
}
