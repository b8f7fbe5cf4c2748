package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Listing bounds: a page is a small JSON document, and no repository signet
// works on has a million tags. The bounds keep a misbehaving registry from
// making a listing grow without end.
const (
	maxListPage    = 4 << 20
	maxListEntries = 1 << 20
)

// Tags lists repo's tags, following the registry's pagination. A repository
// that does not exist (404 NAME_UNKNOWN) has no tags: that is an empty list,
// not an error.
//
// Pages are requested with n (WithPageSize) and followed through the Link
// header, as the distribution spec says. A registry that returns exactly n
// tags but no Link (go-containerregistry's registry does this) is asked for
// the next page with last=<greatest tag so far>, which the spec also
// defines; that costs one extra request when the final page happens to be
// exactly full. distribution 2.8 ignores n and answers with every tag, in no
// order, in one page. Tags are returned once each, in the order received.
func (c *Client) Tags(ctx context.Context, repo name.Repository) ([]string, error) {
	hc, err := c.pullClient(ctx, repo)
	if err != nil {
		return nil, err
	}
	path := repoPath(repo, "tags", "list")
	n := strconv.Itoa(c.opts.pageSize)
	first := c.endpoint(repo.Registry, path, url.Values{"n": {n}})
	tags := []string{}
	have := map[string]bool{}
	seen := map[string]bool{}
	for next := first; next != ""; {
		page, link, err := c.listPage(ctx, hc, next, "tag list", seen)
		if err != nil {
			var e *Error
			if next == first && errors.As(err, &e) && e.StatusCode == http.StatusNotFound &&
				(e.Code == "NAME_UNKNOWN" || e.Code == "") {
				return []string{}, nil
			}
			return nil, err
		}
		// A registry that ignores last repeats pages; only new tags
		// count, and a page without any ends the listing.
		added, last := 0, ""
		for _, tag := range page {
			last = max(last, tag)
			if !have[tag] {
				have[tag] = true
				tags = append(tags, tag)
				added++
			}
		}
		if len(tags) > maxListEntries {
			return nil, fmt.Errorf("listing tags of %s: more than %d tags", repo, maxListEntries)
		}
		switch {
		case link != "":
			next = link
		case added > 0 && len(page) == c.opts.pageSize:
			next = c.endpoint(repo.Registry, path, url.Values{"n": {n}, "last": {last}})
		default:
			next = ""
		}
	}
	return tags, nil
}

// Catalog lists the repositories reg holds, following Link pagination.
// Registries may restrict the catalog to administrators or switch it off;
// their refusal is returned as an *Error.
func (c *Client) Catalog(ctx context.Context, reg name.Registry) ([]string, error) {
	hc, err := c.catalogClient(ctx, reg)
	if err != nil {
		return nil, err
	}
	next := c.endpoint(reg, "/v2/_catalog", url.Values{"n": {strconv.Itoa(c.opts.pageSize)}})
	repos := []string{}
	seen := map[string]bool{}
	for next != "" {
		page, link, err := c.listPage(ctx, hc, next, "catalog", seen)
		if err != nil {
			return nil, err
		}
		repos = append(repos, page...)
		if len(repos) > maxListEntries {
			return nil, fmt.Errorf("listing repositories of %s: more than %d", reg, maxListEntries)
		}
		next = link
	}
	return repos, nil
}

// listPage fetches one page of a tag list or catalog and returns its entries
// and the next page's URL from the Link header. seen guards against a Link
// cycle.
func (c *Client) listPage(ctx context.Context, hc *http.Client, u, what string, seen map[string]bool) ([]string, string, error) {
	if seen[u] {
		return nil, "", fmt.Errorf("GET %s: the registry's pagination returned to a page already read", redactURL(u))
	}
	seen[u] = true
	resp, err := c.do(ctx, hc, http.MethodGet, u, nil, map[string]string{"Accept": "application/json"})
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", responseError(http.MethodGet, u, resp)
	}
	link, err := nextLink(resp)
	if err != nil {
		resp.Body.Close()
		return nil, "", fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	body, err := readLimited(http.MethodGet, u, resp, what, maxListPage)
	if err != nil {
		return nil, "", err
	}
	var doc struct {
		Tags         []string `json:"tags"`
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, "", fmt.Errorf("GET %s: decoding %s: %w", redactURL(u), what, err)
	}
	if doc.Tags != nil {
		return doc.Tags, link, nil
	}
	return doc.Repositories, link, nil
}

// nextLink returns the absolute URL of the Link header's rel="next" target
// (RFC 8288), or "" when there is none. The target must stay on the host
// that was asked: credentials for a registry are not sent elsewhere, and a
// listing that wanders off is more likely an attack than pagination.
func nextLink(resp *http.Response) (string, error) {
	for _, h := range resp.Header.Values("Link") {
		for _, link := range strings.Split(h, ",") {
			link = strings.TrimSpace(link)
			target, params, ok := strings.Cut(link, ">")
			if !ok || !strings.HasPrefix(target, "<") || !relNext(params) {
				continue
			}
			u, err := resp.Request.URL.Parse(target[1:])
			if err != nil {
				return "", fmt.Errorf("parsing Link %q: %w", link, err)
			}
			if u.Host != resp.Request.URL.Host {
				return "", fmt.Errorf("link header %q leaves host %s", link, resp.Request.URL.Host)
			}
			return u.String(), nil
		}
	}
	return "", nil
}

func relNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}
