package signature

import (
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Subject is one manifest to sign or verify: where it lives, what the
// registry says it is, and the identity signatures vouch for.
type Subject struct {
	// Repo is the repository holding the manifest and its signatures.
	Repo name.Repository
	// Digest, MediaType and Size describe the manifest exactly as the
	// registry serves it (MediaType is its Content-Type).
	Digest    v1.Hash
	MediaType string
	Size      int64
	// Identity is the docker-reference a signature names: "registry/repo:tag"
	// when the user named a tag (the index's tag for its children), else the
	// repository.
	Identity string
	// Platform is "os/arch[/variant]" for a child of an index, "" otherwise.
	Platform string
	// Index is true when the manifest is an image index.
	Index bool
}

// Name returns the subject as "registry/repo@sha256:…".
func (s Subject) Name() name.Digest { return s.Repo.Digest(s.Digest.String()) }

// Result is what one format did for one subject.
type Result struct {
	// Format is the format's name ("cosign", "notation", …).
	Format string
	// Digest is the digest of the signature manifest written or found.
	Digest v1.Hash
	// Skipped is true when an equivalent signature by the same key already
	// existed, so nothing was written.
	Skipped bool
}
