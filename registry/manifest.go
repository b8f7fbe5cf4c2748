package registry

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// manifestAccept lists the manifest types signet reads: images and indexes,
// OCI and Docker. Docker schema 1 is left out on purpose; registries then
// convert or refuse rather than hand back a signed v1 manifest.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1),
	string(types.OCIImageIndex),
	string(types.DockerManifestSchema2),
	string(types.DockerManifestList),
}, ", ")

func (c *Client) manifestURL(ref name.Reference) string {
	return c.endpoint(ref.Context().Registry, repoPath(ref.Context(), "manifests", ref.Identifier()), nil)
}

// Resolve returns the descriptor ref points at, with one HEAD request. A
// registry that leaves Docker-Content-Digest, Content-Length or Content-Type
// out of its HEAD answer costs a GET as well.
func (c *Client) Resolve(ctx context.Context, ref name.Reference) (Descriptor, error) {
	hc, err := c.pullClient(ctx, ref.Context())
	if err != nil {
		return Descriptor{}, err
	}
	u := c.manifestURL(ref)
	resp, err := c.do(ctx, hc, http.MethodHead, u, nil, map[string]string{"Accept": manifestAccept})
	if err != nil {
		return Descriptor{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Descriptor{}, responseError(http.MethodHead, u, resp)
	}
	resp.Body.Close()

	dcd := resp.Header.Get("Docker-Content-Digest")
	mt := mediaType(resp.Header.Get("Content-Type"))
	if dcd == "" || resp.ContentLength < 0 || mt == "" {
		m, err := c.getManifest(ctx, hc, ref)
		if err != nil {
			return Descriptor{}, err
		}
		return m.Descriptor, nil
	}
	h, err := v1.NewHash(dcd)
	if err != nil {
		return Descriptor{}, fmt.Errorf("HEAD %s: parsing Docker-Content-Digest %q: %w", redactURL(u), dcd, err)
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != h.String() {
		return Descriptor{}, fmt.Errorf("HEAD %s: registry answered with digest %s: %w", redactURL(u), h, ErrDigestMismatch)
	}
	if resp.ContentLength > MaxManifestSize {
		return Descriptor{}, fmt.Errorf("HEAD %s: manifest is %d bytes, over the %d-byte limit: %w",
			redactURL(u), resp.ContentLength, MaxManifestSize, ErrTooLarge)
	}
	return Descriptor{
		MediaType: mt,
		Digest:    h,
		Size:      resp.ContentLength,
	}, nil
}

// Manifest fetches the manifest ref points at. Its bytes are checked
// against ref's digest when ref is a digest, and against the registry's
// Docker-Content-Digest otherwise, so a truncated or altered body is an
// error rather than something to sign.
func (c *Client) Manifest(ctx context.Context, ref name.Reference) (*Manifest, error) {
	hc, err := c.pullClient(ctx, ref.Context())
	if err != nil {
		return nil, err
	}
	return c.getManifest(ctx, hc, ref)
}

func (c *Client) getManifest(ctx context.Context, hc *http.Client, ref name.Reference) (*Manifest, error) {
	u := c.manifestURL(ref)
	resp, err := c.do(ctx, hc, http.MethodGet, u, nil, map[string]string{"Accept": manifestAccept})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(http.MethodGet, u, resp)
	}
	ct := resp.Header.Get("Content-Type")
	dcd := resp.Header.Get("Docker-Content-Digest")
	body, err := readLimited(http.MethodGet, u, resp, "manifest", MaxManifestSize)
	if err != nil {
		return nil, err
	}

	var want v1.Hash
	if d, ok := ref.(name.Digest); ok {
		want, err = v1.NewHash(d.DigestStr())
	} else if dcd != "" {
		want, err = v1.NewHash(dcd)
	} else {
		want = v1.Hash{Algorithm: "sha256"}
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: parsing the expected digest: %w", redactURL(u), err)
	}
	got, err := digestOf(want.Algorithm, body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	if want.Hex != "" && got != want {
		return nil, fmt.Errorf("GET %s: manifest body has digest %s, want %s: %w", redactURL(u), got, want, ErrDigestMismatch)
	}

	mt := mediaType(ct)
	if mt == "" || mt == "application/json" || mt == "text/plain" {
		// Some registries serve stored manifests generically; the
		// document names its own type.
		var doc struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(body, &doc) == nil && doc.MediaType != "" {
			mt = doc.MediaType
		}
	}
	return &Manifest{
		Descriptor: Descriptor{MediaType: mt, Digest: got, Size: int64(len(body))},
		Body:       body,
	}, nil
}

// PutManifest stores body under ref (a tag or a digest) with Content-Type
// mediaType. A body over MaxManifestSize is refused before any request, as
// is a digest ref that does not match body.
func (c *Client) PutManifest(ctx context.Context, ref name.Reference, mediaType string, body []byte) (PutResult, error) {
	if mediaType == "" {
		return PutResult{}, fmt.Errorf("putting manifest %s: empty media type", ref)
	}
	if len(body) > MaxManifestSize {
		return PutResult{}, fmt.Errorf("putting manifest %s: manifest is %d bytes, over the %d-byte limit: %w",
			ref, len(body), MaxManifestSize, ErrTooLarge)
	}
	want := v1.Hash{Algorithm: "sha256"}
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return PutResult{}, fmt.Errorf("putting manifest %s: %w", ref, err)
		}
		want = h
	}
	got, err := digestOf(want.Algorithm, body)
	if err != nil {
		return PutResult{}, fmt.Errorf("putting manifest %s: %w", ref, err)
	}
	if want.Hex != "" && got != want {
		return PutResult{}, fmt.Errorf("putting manifest %s: body has digest %s: %w", ref, got, ErrDigestMismatch)
	}

	hc, err := c.pushClient(ctx, ref.Context())
	if err != nil {
		return PutResult{}, err
	}
	u := c.manifestURL(ref)
	resp, err := c.do(ctx, hc, http.MethodPut, u, body, map[string]string{"Content-Type": mediaType})
	if err != nil {
		return PutResult{}, err
	}
	if !statusIn(resp.StatusCode, http.StatusCreated, http.StatusOK, http.StatusAccepted, http.StatusNoContent) {
		return PutResult{}, responseError(http.MethodPut, u, resp)
	}
	discard(resp)
	if dcd := resp.Header.Get("Docker-Content-Digest"); dcd != "" {
		// A registry that stored other bytes than we sent (or hashed them
		// differently) would make every signature over got dangle.
		if h, err := v1.NewHash(dcd); err == nil && h.Algorithm == got.Algorithm && h != got {
			return PutResult{}, fmt.Errorf("PUT %s: registry stored digest %s, sent %s: %w", redactURL(u), h, got, ErrDigestMismatch)
		}
	}
	return PutResult{Digest: got, Subject: resp.Header.Get("OCI-Subject") != ""}, nil
}

// DeleteManifest deletes the manifest digest from repo, with the tags that
// point at it. Registries with deletion disabled answer 405
// (UNSUPPORTED); callers that only tidy up may ignore that.
func (c *Client) DeleteManifest(ctx context.Context, repo name.Repository, digest v1.Hash) error {
	hc, err := c.pushClient(ctx, repo)
	if err != nil {
		return err
	}
	u := c.endpoint(repo.Registry, repoPath(repo, "manifests", digest.String()), nil)
	resp, err := c.do(ctx, hc, http.MethodDelete, u, nil, nil)
	if err != nil {
		return err
	}
	if !statusIn(resp.StatusCode, http.StatusAccepted, http.StatusOK, http.StatusNoContent) {
		return responseError(http.MethodDelete, u, resp)
	}
	discard(resp)
	return nil
}

// digestOf hashes b with the named algorithm.
func digestOf(algorithm string, b []byte) (v1.Hash, error) {
	hasher, err := v1.Hasher(algorithm)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("hashing with %q: %w", algorithm, err)
	}
	hasher.Write(b)
	return v1.Hash{Algorithm: algorithm, Hex: hex.EncodeToString(hasher.Sum(nil))}, nil
}
