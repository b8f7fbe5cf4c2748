package pending

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
	"github.com/signet-project/signet/signature/cosign"
	"github.com/signet-project/signet/signature/notation"
)

// Gap is one signature or attestation a manifest lacks.
type Gap struct {
	Subject signature.Subject
	// Format is a format name (cosign, notation, sigstore-bundle) or
	// buildkit.ProvenanceAttest.
	Format string
}

// Checker tells which of the requested signatures and attestations an
// image already carries, each verified with one public key, as the real
// verifiers do it: a signature by another key does not count.
type Checker struct {
	verify map[string]func(ctx context.Context, s signature.Subject) error
}

// NewChecker returns a checker reading from reg and trusting pub alone.
func NewChecker(reg *registry.Client, pub crypto.PublicKey) (*Checker, error) {
	trust := signature.KeyTrust{Key: pub}
	store := cosign.NewStore(reg)
	nv, err := notation.NewVerifier(reg, trust)
	if err != nil {
		return nil, fmt.Errorf("checking notation signatures: %w", err)
	}
	bv, err := bundle.NewVerifier(reg, trust)
	if err != nil {
		return nil, fmt.Errorf("checking sigstore bundles: %w", err)
	}
	cv := cosign.NewVerifier(store, trust)
	av := attest.NewVerifier(store, trust)
	return &Checker{verify: map[string]func(context.Context, signature.Subject) error{
		"cosign": func(ctx context.Context, s signature.Subject) error {
			_, err := cv.Verify(ctx, s)
			return err
		},
		"notation": func(ctx context.Context, s signature.Subject) error {
			_, err := nv.Verify(ctx, s)
			return err
		},
		"sigstore-bundle": func(ctx context.Context, s signature.Subject) error {
			_, err := bv.Verify(ctx, s)
			return err
		},
		buildkit.ProvenanceAttest: func(ctx context.Context, s signature.Subject) error {
			_, err := av.Verify(ctx, s, attest.SLSAProvenanceV1)
			return err
		},
	}}, nil
}

// Missing returns what img lacks: every format on the index, its images and
// BuildKit's attestation manifests, and every attestation on the index and
// its images (attestation manifests are statements about images and get
// none). A manifest whose check fails to verify lacks it; a registry that
// cannot be read is an error, since "not known" is not "missing".
func (c *Checker) Missing(ctx context.Context, img *Image, formats, attestations []string) ([]Gap, error) {
	var gaps []Gap
	check := func(s signature.Subject, what string) error {
		verify, ok := c.verify[what]
		if !ok {
			return fmt.Errorf("checking %s: no check for %q", s.Name(), what)
		}
		err := verify(ctx, s)
		var ve *signature.VerifyError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			gaps = append(gaps, Gap{Subject: s, Format: what})
		default:
			return fmt.Errorf("checking %s of %s: %w", what, s.Name(), err)
		}
		return nil
	}
	for _, s := range img.Subjects() {
		for _, f := range formats {
			if err := check(s, f); err != nil {
				return nil, err
			}
		}
	}
	images := []signature.Subject{img.Index}
	for _, m := range img.Images {
		images = append(images, m.Subject)
	}
	for _, s := range images {
		for _, a := range attestations {
			if err := check(s, a); err != nil {
				return nil, err
			}
		}
	}
	return gaps, nil
}
