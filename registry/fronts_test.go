package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// This file holds thin fronts for real registries: each passes requests
// through to the registry and changes one thing about the exchange.

func memHandler(referrers bool) http.Handler {
	return ggcrregistry.New(
		ggcrregistry.WithReferrersSupport(referrers),
		ggcrregistry.Logger(log.New(io.Discard, "", 0)),
	)
}

// serve serves h on loopback until the test ends and returns its host.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// subjectRegistry is go-containerregistry's registry with the referrers API,
// answering a manifest PUT that has a subject with the OCI-Subject header,
// as OCI 1.1 registries do.
func subjectRegistry(t testing.TB) string {
	inner := memHandler(true)
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var m struct {
				Subject *struct {
					Digest string `json:"digest"`
				} `json:"subject"`
			}
			if json.Unmarshal(body, &m) == nil && m.Subject != nil {
				w.Header().Set("OCI-Subject", m.Subject.Digest)
			}
		}
		inner.ServeHTTP(w, r)
	}))
}

// tokenRegistry is go-containerregistry's registry behind Docker token auth:
// GET /token hands out a token naming the requested scopes (anonymous
// access is granted everything asked for), and registry requests need a
// current token whose scope covers the repository and action. Bumping the
// returned generation expires every token handed out so far. It returns the
// host, a count of token requests and the generation.
func tokenRegistry(t testing.TB) (string, *atomic.Int64, *atomic.Int64) {
	inner := memHandler(false)
	tokens, gen := &atomic.Int64{}, &atomic.Int64{}
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokens.Add(1)
			tok := fmt.Sprintf("tok:%d:%s", gen.Load(), strings.Join(r.URL.Query()["scope"], " "))
			json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
			return
		}
		need := requiredScope(r)
		prefix := fmt.Sprintf("Bearer tok:%d:", gen.Load())
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, prefix) || !covers(strings.Fields(strings.TrimPrefix(auth, prefix)), need) {
			io.Copy(io.Discard, r.Body)
			challenge := fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, r.Host)
			if need != "" {
				challenge += fmt.Sprintf(`,scope=%q`, need)
			}
			w.Header().Set("WWW-Authenticate", challenge)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	return host, tokens, gen
}

// noDigestOnHead is go-containerregistry's registry with Docker-Content-Digest
// dropped from HEAD answers, as some registries and proxies do.
func noDigestOnHead(t testing.TB) string {
	inner := memHandler(false)
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w = &dropHeader{ResponseWriter: w, name: "Docker-Content-Digest"}
		}
		inner.ServeHTTP(w, r)
	}))
}

type dropHeader struct {
	http.ResponseWriter
	name string
}

func (d *dropHeader) WriteHeader(code int) {
	d.Header().Del(d.name)
	d.ResponseWriter.WriteHeader(code)
}

// requiredScope is the scope a request needs: "" for the ping, else
// repository:<name>:<pull|push>.
func requiredScope(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if p == "" || p == r.URL.Path {
		return ""
	}
	if p == "_catalog" {
		return "registry:catalog:*"
	}
	var repo string
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.Index(p, sep); i >= 0 {
			repo = p[:i]
			break
		}
	}
	action := "pull"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		action = "push"
	}
	return "repository:" + repo + ":" + action
}

func covers(granted []string, need string) bool {
	if need == "" {
		return true
	}
	needRes, needAction, _ := cutLast(need)
	for _, g := range granted {
		res, actions, _ := cutLast(g)
		if res != needRes {
			continue
		}
		for _, a := range strings.Split(actions, ",") {
			if a == needAction || a == "*" {
				return true
			}
		}
	}
	return false
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// pagedReferrers is go-containerregistry's registry with the referrers API,
// answering a referrers listing in two pages, as registries with many
// referrers do: the first referrer, with a Link to a second page, then the
// others. second writes the second page's answer given the real one (an
// index of the other referrers), so a test can turn it into a failure. It
// returns the host and a count of requests for a referrers tag
// (…/manifests/sha256-…), which a registry with the API is never asked.
func pagedReferrers(t testing.TB, second func(w http.ResponseWriter, rest []byte)) (string, *atomic.Int64) {
	inner := memHandler(true)
	tagReads := &atomic.Int64{}
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/sha256-") {
			tagReads.Add(1)
		}
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/referrers/") {
			inner.ServeHTTP(w, r)
			return
		}
		page := r.URL.Query().Get("page")
		q := r.URL.Query()
		q.Del("page")
		r.URL.RawQuery = q.Encode()
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		var idx v1.IndexManifest
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &idx) != nil || len(idx.Manifests) < 2 {
			t.Errorf("pagedReferrers: the registry's listing = %d %q; want an index of 2 or more", rec.Code, rec.Body)
			http.Error(w, "front misused", http.StatusInternalServerError)
			return
		}
		// The registry lists referrers in no fixed order; the two pages
		// come from two listings, so they are split in digest order.
		slices.SortFunc(idx.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
		first, rest := idx, idx
		first.Manifests, rest.Manifests = idx.Manifests[:1], idx.Manifests[1:]
		if page == "" {
			q.Set("page", "2")
			w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
			w.Header().Set("Content-Type", string(types.OCIImageIndex))
			json.NewEncoder(w).Encode(first)
			return
		}
		b, _ := json.Marshal(rest)
		second(w, b)
	}))
	return host, tagReads
}
