package registry

// This file fixes the package's API; the bodies live beside it.

import (
	"context"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxManifestSize bounds manifests read or written, as containers/image and
// distribution do (4 MiB); a larger manifest is an error naming its size.
const MaxManifestSize = 4 << 20

// Descriptor is what a registry says about a manifest: its digest, size and
// the media type the registry reports as Content-Type.
type Descriptor struct {
	MediaType string
	Digest    v1.Hash
	Size      int64
}

// Manifest is a manifest's exact bytes with its descriptor.
type Manifest struct {
	Descriptor
	Body []byte
}

// PutResult reports what the registry answered to a manifest PUT.
type PutResult struct {
	Digest v1.Hash
	// Subject is true when the registry answered with an OCI-Subject header,
	// i.e. it indexed the manifest's subject for the referrers API.
	Subject bool
}

// Interface is the part of *Client that signature formats use. Formats
// declare narrower interfaces of their own; this one exists so tests and
// benchmarks can wrap a client (for instance to count requests) without
// depending on its fields.
type Interface interface {
	Resolve(ctx context.Context, ref name.Reference) (Descriptor, error)
	Manifest(ctx context.Context, ref name.Reference) (*Manifest, error)
	PutManifest(ctx context.Context, ref name.Reference, mediaType string, body []byte) (PutResult, error)
	DeleteManifest(ctx context.Context, repo name.Repository, digest v1.Hash) error
	Blob(ctx context.Context, repo name.Repository, digest v1.Hash, maxSize int64) ([]byte, error)
	BlobExists(ctx context.Context, repo name.Repository, digest v1.Hash) (bool, error)
	UploadBlob(ctx context.Context, repo name.Repository, digest v1.Hash, body []byte) error
	Tags(ctx context.Context, repo name.Repository) ([]string, error)
	Catalog(ctx context.Context, reg name.Registry) ([]string, error)
	Referrers(ctx context.Context, repo name.Repository, subject v1.Hash, artifactType string) (idx *v1.IndexManifest, supported bool, err error)
}

var _ Interface = (*Client)(nil)

// Option configures a Client.
type Option func(*options) error

// The exported With* constructors live in options.go:
//
//	WithInsecure(hosts ...string)             plain HTTP for these hosts (default: loopback only)
//	WithKeychain(authn.Keychain)              default authn.DefaultKeychain (docker config.json)
//	WithTransport(http.RoundTripper)          base transport (default: NewTransport(), one per Client)
//	WithRetries(max int, base time.Duration)  default 5 attempts, 200ms base
//	WithUserAgent(string)                     default "signet"
//	WithPageSize(n int)                       n for tag and catalog pages (default 1000)

var _ http.RoundTripper = (*retryTransport)(nil)
