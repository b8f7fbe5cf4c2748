package registry

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxReferrerPages bounds a referrers listing. Each page is an index of at
// most MaxManifestSize; signet caps signatures per image far below this.
const maxReferrerPages = 100

// Referrers lists the manifests in repo whose subject is the given digest,
// through the OCI 1.1 referrers API, keeping those of artifactType (all when
// it is empty). The filter is applied here as well, since registries may
// ignore the artifactType parameter.
//
// supported is false when the registry has no referrers API; idx is then nil
// and the caller reads the tag ReferrersTag(subject) instead. The rule is
// oras-go's: a 404 is "unsupported" unless its error code is NAME_UNKNOWN,
// and so is a 200 that is not an OCI image index. A 404 NAME_UNKNOWN means
// the repository does not exist, which says nothing about the API: it is
// returned as an error (IsNotFound) with supported false.
//
// Only the first page can say "unsupported". Once it has answered with an
// index, any failure on a later page (a 404 included, say for an expired
// pagination cursor) is returned as an error with supported true: the API
// is there, and the tag holds nothing on such a registry, so a caller that
// fell back to it would take a failed listing for an empty one.
func (c *Client) Referrers(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) (idx *v1.IndexManifest, supported bool, err error) {
	idx, supported, page, err := c.referrers(ctx, repo, subject, artifactType)
	if err != nil && page > 0 {
		return nil, true, fmt.Errorf("reading referrers page %d: %w", page+1, err)
	}
	return idx, supported, err
}

// referrers is Referrers without the rule for later pages; page is the
// (0-based) page it stopped at.
func (c *Client) referrers(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) (idx *v1.IndexManifest, supported bool, page int, err error) {
	hc, err := c.pullClient(ctx, repo)
	if err != nil {
		return nil, false, 0, err
	}
	var query url.Values
	if artifactType != "" {
		query = url.Values{"artifactType": {artifactType}}
	}
	next := c.endpoint(repo.Registry, repoPath(repo, "referrers", subject.String()), query)
	idx = &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	seen := map[string]bool{}
	for ; next != ""; page++ {
		if page >= maxReferrerPages || seen[next] {
			return nil, false, page, fmt.Errorf("listing referrers of %s in %s: pagination ran past %d pages or looped", subject, repo, page)
		}
		seen[next] = true
		u := next
		resp, err := c.do(ctx, hc, http.MethodGet, u, nil, map[string]string{"Accept": string(types.OCIImageIndex)})
		if err != nil {
			return nil, false, page, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			e := responseError(http.MethodGet, u, resp)
			if page > 0 || e.Code == "NAME_UNKNOWN" {
				return nil, false, page, e
			}
			return nil, false, page, nil
		default:
			return nil, false, page, responseError(http.MethodGet, u, resp)
		}
		if mediaType(resp.Header.Get("Content-Type")) != string(types.OCIImageIndex) {
			discard(resp)
			if page > 0 {
				return nil, false, page, fmt.Errorf("GET %s: referrers page is %q, not an OCI image index", redactURL(u), resp.Header.Get("Content-Type"))
			}
			return nil, false, page, nil
		}
		link, err := nextLink(resp)
		if err != nil {
			resp.Body.Close()
			return nil, false, page, fmt.Errorf("GET %s: %w", redactURL(u), err)
		}
		body, err := readLimited(http.MethodGet, u, resp, "referrers index", MaxManifestSize)
		if err != nil {
			return nil, false, page, err
		}
		im, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return nil, false, page, fmt.Errorf("GET %s: decoding referrers index: %w", redactURL(u), err)
		}
		for _, d := range im.Manifests {
			if artifactType == "" || d.ArtifactType == artifactType {
				idx.Manifests = append(idx.Manifests, d)
			}
		}
		next = link
	}
	return idx, true, page, nil
}

// ReferrersTag returns the tag that holds digest's referrers index on
// registries without the referrers API: "<alg>-<hex>", e.g. sha256-ab12…
// (OCI distribution spec, "Referrers Tag Schema"; the parts are truncated to
// 32 and 64 characters to stay a valid tag).
func ReferrersTag(digest v1.Hash) string {
	alg, hex := digest.Algorithm, digest.Hex
	if len(alg) > 32 {
		alg = alg[:32]
	}
	if len(hex) > 64 {
		hex = hex[:64]
	}
	return alg + "-" + hex
}
