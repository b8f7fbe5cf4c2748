package registry_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

// TestUploadSingleRequest: a registry that takes a blob in the POST gets
// every upload in one request; one that opens a session instead gets the
// first upload's bytes again in a PUT, and later uploads the usual two
// requests; one that refuses the single-request form outright gets the
// usual upload at once, and is not asked that way again.
func TestUploadSingleRequest(t *testing.T) {
	mem := testenv.MemRegistry(t, false)
	// refusing answers 400 to POST …/blobs/uploads/?digest= and passes
	// everything else to go-containerregistry's registry.
	target, _ := url.Parse(mem.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") && r.URL.Query().Get("digest") != "" {
			http.Error(w, `{"errors":[{"code":"UNSUPPORTED","message":"no single-request uploads"}]}`, http.StatusBadRequest)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(refusing.Close)

	cases := []struct {
		name         string
		host         string
		first, later int64 // requests per upload
	}{
		{"takes it", mem.Host, 1, 1},
		{"opens a session", testenv.DockerRegistry(t).Host, 2, 2},
		{"refuses", strings.TrimPrefix(refusing.URL, "http://"), 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			c, ct := newClient(t)
			repo := mustRepo(t, tc.host+"/single")
			for i, want := range []int64{tc.first, tc.later, tc.later} {
				body := randomBytes(t, 300)
				ct.Reset()
				if err := c.UploadBlob(ctx, repo, sha(body), body); err != nil {
					t.Fatalf("upload %d: %v", i+1, err)
				}
				// The first upload also authenticates (GET /v2/).
				if got := ct.Counts(); got.Requests-got.Pings != want {
					t.Errorf("upload %d cost %+v; want %d requests besides auth pings", i+1, got, want)
				}
				if blob, err := c.Blob(ctx, repo, sha(body), 1024); err != nil || !bytes.Equal(blob, body) {
					t.Errorf("upload %d: Blob = %d bytes, %v; want the blob", i+1, len(blob), err)
				}
			}
		})
	}
}
