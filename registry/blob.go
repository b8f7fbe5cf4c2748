package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

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
// upload: POST to open a session, PUT the bytes to its Location. That is two
// requests and one upload session; it does not ask first whether the blob
// exists, since callers know better when that is worth a request.
//
// The PUT may be retried after the registry committed the blob but its
// answer was lost; the registry has then closed the session and answers 404
// BLOB_UPLOAD_UNKNOWN. Such a session is abandoned and the upload starts over
// with a new POST (as many sessions as WithRetries allows attempts).
func (c *Client) UploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte) error {
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
	for session := 1; ; session++ {
		err := c.uploadOnce(ctx, hc, repo, digest, body)
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

func (c *Client) uploadOnce(ctx context.Context, hc *http.Client, repo name.Repository, digest v1.Hash, body []byte) error {
	u := c.endpoint(repo.Registry, repoPath(repo, "blobs", "uploads")+"/", nil)
	resp, err := c.do(ctx, hc, http.MethodPost, u, nil, nil)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusAccepted:
	case http.StatusCreated:
		// The registry already has the blob and says so up front.
		discard(resp)
		return nil
	default:
		return responseError(http.MethodPost, u, resp)
	}
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
