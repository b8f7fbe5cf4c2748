package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func (c *Client) blobURL(repo name.Repository, digest v1.Hash) string {
	return c.endpoint(repo.Registry, repoPath(repo, "blobs", digest.String()), nil)
}

// Blob fetches a blob of at most maxSize bytes and checks its digest.
// Registries that keep blobs elsewhere answer with a redirect, which is
// followed without the registry's credentials.
func (c *Client) Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("fetching blob %s from %s: size limit %d is not positive", digest, repo, maxSize)
	}
	hc, err := c.pullClient(ctx, repo)
	if err != nil {
		return nil, err
	}
	u := c.blobURL(repo, digest)
	resp, err := c.do(ctx, hc, http.MethodGet, u, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(http.MethodGet, u, resp)
	}
	body, err := readLimited(http.MethodGet, u, resp, "blob", maxSize)
	if err != nil {
		return nil, err
	}
	got, err := digestOf(digest.Algorithm, body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	if got != digest {
		return nil, fmt.Errorf("GET %s: blob body has digest %s: %w", redactURL(u), got, ErrDigestMismatch)
	}
	return body, nil
}

// BlobExists reports whether repo holds the blob, with one HEAD request.
func (c *Client) BlobExists(ctx context.Context, repo name.Repository, digest v1.Hash) (bool, error) {
	hc, err := c.pullClient(ctx, repo)
	if err != nil {
		return false, err
	}
	u := c.blobURL(repo, digest)
	resp, err := c.do(ctx, hc, http.MethodHead, u, nil, nil)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		resp.Body.Close()
		return true, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return false, nil
	}
	return false, responseError(http.MethodHead, u, resp)
}

// UploadBlob stores body as the blob digest in repo with a monolithic
// upload. Where the registry takes the blob in the POST that would open an
// upload session (the distribution spec's single-request upload,
// POST …/blobs/uploads/?digest=; go-containerregistry's registry does),
// that is one request; elsewhere (distribution 2.8) it is two, the POST
// opening a session and a PUT of the bytes to its Location. The first
// upload to a registry finds out which, by sending the bytes with the POST:
// a registry that opens a session anyway gets them again in the PUT and is
// not asked that way again. UploadBlob does not ask first whether the blob
// exists, since callers know better when that is worth a request.
//
// The PUT may be retried after the registry committed the blob but its
// answer was lost; the registry has then closed the session and answers 404
// BLOB_UPLOAD_UNKNOWN. Such a session is abandoned and the upload starts over
// with a new POST (as many sessions as WithRetries allows attempts).
func (c *Client) UploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte) error {
	return c.uploadBlob(ctx, repo, digest, body, nil)
}

// UploadBlobFrom is UploadBlob offering the registry a cross-repository
// mount first (the distribution spec's POST …/blobs/uploads/?mount=&from=):
// when from, a repository on the same registry, holds the blob, the
// registry links it into repo and the blob costs one request and no upload.
// A registry that cannot mount it answers with an upload session instead,
// and body goes into that session, so the cost is then UploadBlob's. A from
// on another registry is ignored.
func (c *Client) UploadBlobFrom(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte, from name.Repository) error {
	var mount url.Values
	if from.RegistryStr() == repo.RegistryStr() && from.RepositoryStr() != repo.RepositoryStr() {
		mount = url.Values{"mount": {digest.String()}, "from": {from.RepositoryStr()}}
	}
	return c.uploadBlob(ctx, repo, digest, body, mount)
}

// uploadBlob checks body against digest and uploads it, asking for the
// mount first when there is one.
func (c *Client) uploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte, mount url.Values) error {
	got, err := digestOf(digest.Algorithm, body)
	if err != nil {
		return fmt.Errorf("uploading blob %s to %s: %w", digest, repo, err)
	}
	if got != digest {
		return fmt.Errorf("uploading blob %s to %s: content has digest %s: %w", digest, repo, got, ErrDigestMismatch)
	}
	hc, err := c.pushClient(ctx, repo)
	if err != nil {
		return err
	}
	return c.upload(ctx, hc, repo, digest, body, mount)
}

// upload runs upload sessions until one stores the blob; query (a mount)
// goes with the first session's POST only.
func (c *Client) upload(ctx context.Context, hc *http.Client, repo name.Repository, digest v1.Hash, body []byte, query url.Values) error {
	for session := 1; ; session++ {
		var err error
		if single, known := c.singleUploads(repo.Registry); query == nil && (single || !known) {
			err = c.uploadSingle(ctx, hc, repo, digest, body, known)
		} else {
			err = c.uploadOnce(ctx, hc, repo, digest, body, query)
		}
		query = nil
		var e *Error
		if err == nil || session >= c.opts.attempts || !errors.As(err, &e) || !e.sessionLost() {
			return err
		}
	}
}

// sessionLost reports whether an upload PUT failed because the registry no
// longer knows its session.
func (e *Error) sessionLost() bool {
	return e.Method == http.MethodPut &&
		(e.Code == "BLOB_UPLOAD_UNKNOWN" || e.Code == "BLOB_UPLOAD_INVALID" ||
			(e.StatusCode == http.StatusNotFound && e.Code == ""))
}

// singleUploads reports whether reg is known to take blobs in the POST
// (single) and whether that is known at all.
func (c *Client) singleUploads(reg name.Registry) (single, known bool) {
	v, ok := c.single.Load(reg.RegistryStr())
	if !ok {
		return false, false
	}
	return v.(bool), true
}

// uploadSingle sends body with the POST (?digest=). A registry that opens a
// session instead (202) gets body again in a PUT to it, and is remembered
// as one that does not take blobs in the POST; so is one that refuses the
// form outright while that was not known yet, and the upload then starts
// over the usual way.
func (c *Client) uploadSingle(ctx context.Context, hc *http.Client, repo name.Repository, digest v1.Hash, body []byte, known bool) error {
	u := c.endpoint(repo.Registry, repoPath(repo, "blobs", "uploads")+"/", url.Values{"digest": {digest.String()}})
	resp, err := c.do(ctx, hc, http.MethodPost, u, body, map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusCreated:
		discard(resp)
		c.single.Store(repo.RegistryStr(), true)
		return nil
	case resp.StatusCode == http.StatusAccepted:
		c.single.Store(repo.RegistryStr(), false)
		return c.putSession(ctx, hc, u, resp, digest, body)
	case known:
		return responseError(http.MethodPost, u, resp)
	}
	discard(resp)
	c.single.Store(repo.RegistryStr(), false)
	return c.uploadOnce(ctx, hc, repo, digest, body, nil)
}

func (c *Client) uploadOnce(ctx context.Context, hc *http.Client, repo name.Repository, digest v1.Hash, body []byte, query url.Values) error {
	u := c.endpoint(repo.Registry, repoPath(repo, "blobs", "uploads")+"/", query)
	resp, err := c.do(ctx, hc, http.MethodPost, u, nil, nil)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusAccepted:
	case http.StatusCreated:
		// The registry already has the blob (or mounted it) and says so
		// up front.
		discard(resp)
		return nil
	default:
		return responseError(http.MethodPost, u, resp)
	}
	return c.putSession(ctx, hc, u, resp, digest, body)
}

// putSession PUTs body to the upload session the POST to u opened (resp,
// a 202) and closes it with digest.
func (c *Client) putSession(ctx context.Context, hc *http.Client, u string, resp *http.Response, digest v1.Hash, body []byte) error {
	discard(resp)
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("POST %s: upload session without a Location", redactURL(u))
	}
	// Location may be relative to the request (distribution answers with an
	// absolute URL, go-containerregistry's registry with a path).
	base := resp.Request.URL
	put, err := base.Parse(loc)
	if err != nil {
		return fmt.Errorf("POST %s: parsing upload Location %q: %w", redactURL(u), redactURL(loc), err)
	}
	q := put.Query()
	q.Set("digest", digest.String())
	put.RawQuery = q.Encode()
	pu := put.String()

	resp, err = c.do(ctx, hc, http.MethodPut, pu, body, map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return err
	}
	if !statusIn(resp.StatusCode, http.StatusCreated, http.StatusNoContent, http.StatusOK) {
		return responseError(http.MethodPut, pu, resp)
	}
	discard(resp)
	return nil
}
