package registry_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
)

// TestReferrersLaterPage: on a registry whose referrers API answered the
// first page, whatever goes wrong on the second is an error, from Referrers
// (with supported true) and from ListReferrers, which must not fall back to
// the referrers tag: only the first page may say "no API", and a 404 later
// (an expired cursor, say) turned into the empty tag listing would read as
// "no signatures".
func TestReferrersLaterPage(t *testing.T) {
	const sigType = "application/vnd.cncf.notary.signature"
	fail := func(status int, contentType, body string) func(http.ResponseWriter, []byte) {
		return func(w http.ResponseWriter, _ []byte) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	for _, tc := range []struct {
		name   string
		second func(w http.ResponseWriter, rest []byte)
		ok     bool
	}{
		{name: "served", ok: true, second: func(w http.ResponseWriter, rest []byte) {
			w.Header().Set("Content-Type", string(types.OCIImageIndex))
			w.Write(rest)
		}},
		{name: "404 MANIFEST_UNKNOWN", second: fail(http.StatusNotFound, "application/json", `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"cursor expired"}]}`)},
		{name: "404 NAME_UNKNOWN", second: fail(http.StatusNotFound, "application/json", `{"errors":[{"code":"NAME_UNKNOWN","message":"gone"}]}`)},
		{name: "404 without a body", second: fail(http.StatusNotFound, "text/plain", "")},
		{name: "400 bad cursor", second: fail(http.StatusBadRequest, "application/json", `{"errors":[{"code":"UNSUPPORTED","message":"bad page"}]}`)},
		{name: "not an index", second: fail(http.StatusOK, "text/html", "<html>login</html>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			host, tagReads := pagedReferrers(t, tc.second)
			c, _ := newClient(t)
			repo, subject := seedSubject(t, c, &testenv.Registry{Host: host}, "paged")
			var want []string
			for range 3 {
				m := artifact(t, c, repo, subject, sigType)
				if _, err := c.PutManifest(ctx, repo.Digest(sha(m).String()), string(types.OCIManifestSchema1), m); err != nil {
					t.Fatal(err)
				}
				want = append(want, sha(m).String())
			}
			slices.Sort(want)

			idx, supported, err := c.Referrers(ctx, repo, subject.Digest, "")
			list, listErr := c.ListReferrers(ctx, repo, subject.Digest, sigType)
			if tagReads.Load() != 0 {
				t.Errorf("the referrers tag was read %d times on a registry with the API", tagReads.Load())
			}
			if tc.ok {
				if err != nil || !supported || len(idx.Manifests) != 3 {
					t.Fatalf("Referrers() = %v, %v, %v; want 3 referrers", idx, supported, err)
				}
				if got := digests(list); listErr != nil || !slices.Equal(got, want) {
					t.Errorf("ListReferrers() = %v, %v; want %v", got, listErr, want)
				}
				return
			}
			if err == nil || !supported || idx != nil {
				t.Errorf("Referrers() = %v, %v, %v; want an error with supported true", idx, supported, err)
			} else if !strings.Contains(err.Error(), "page 2") {
				t.Errorf("Referrers() error %q does not say which page failed", err)
			}
			if listErr == nil {
				t.Errorf("ListReferrers() = %v, nil; want the second page's error", digests(list))
			}
		})
	}
}
