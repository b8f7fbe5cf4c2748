package cosign

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/verdict"
)

// Format signs subjects in cosign's .sig format with one key.
type Format struct {
	store    *Store
	key      signature.Signer
	certPEM  []byte
	chainPEM []byte
}

// NewFormat returns the cosign format signing with key into store. certPEM
// and chainPEM (may be nil) go into every layer's certificate annotations.
func NewFormat(store *Store, key signature.Signer, certPEM, chainPEM []byte) *Format {
	return &Format{store: store, key: key, certPEM: certPEM, chainPEM: chainPEM}
}

// Name returns "cosign".
func (f *Format) Name() string { return "cosign" }

// Sign signs s and appends the signature to its .sig tag, unless the tag
// already holds a signature by the same key for the same manifest,
// carrying the same certificate as f, or none when f has none
// (Store.SameKey).
func (f *Format) Sign(ctx context.Context, s signature.Subject) (signature.Result, error) {
	l, err := Sign(ctx, f.key, s.Identity, s.Digest, f.certPEM, f.chainPEM)
	if err != nil {
		return signature.Result{}, err
	}
	r, err := f.store.Append(ctx, s.Repo, s.Digest, SignatureSuffix, l, f.store.SameKey(s.Repo, f.key.Public(), s.Digest, l))
	if err != nil {
		return signature.Result{}, err
	}
	return signature.Result{Format: f.Name(), Digest: r.Digest, Skipped: r.Skipped}, nil
}

// Verifier checks cosign signatures against trusted keys and authorities.
type Verifier struct {
	store *Store
	trust signature.Trust
}

// NewVerifier returns a verifier reading from store and trusting trust
// (signature.KeyTrust for a single public key).
func NewVerifier(store *Store, trust signature.Trust) *Verifier {
	return &Verifier{store: store, trust: trust}
}

// Verify checks that s carries a signature by a trusted key, or by a
// certificate (cosign's certificate and chain annotations) that trust
// accepts. The error says why not: no signature at all, signatures by other
// keys only, a tampered payload, or a signature copied from another
// manifest. When a layer could not be read for a reason that says nothing
// about the layer (the registry failing), and no other layer verifies, the
// error is not a *signature.VerifyError: s could not be checked.
func (v *Verifier) Verify(ctx context.Context, s signature.Subject) (*SimpleSigning, error) {
	tag := Tag(s.Digest, SignatureSuffix)
	att, err := v.store.Fetch(ctx, s.Repo, s.Digest, SignatureSuffix)
	if err != nil {
		return nil, err
	}
	if att == nil || len(att.Layers) == 0 {
		return nil, &signature.VerifyError{Subject: s, Format: "cosign", Reason: signature.ReasonUnsigned,
			Err: fmt.Errorf("no cosign signature: tag %s does not exist", tag)}
	}
	// Any valid layer passes, as in cosign and podman; otherwise report the
	// most telling failure: a layer that verifies with the key but is bound
	// to another manifest beats a tampered one, which beats a foreign key.
	// A layer whose payload cannot be read is skipped, as cosign does: it
	// must not hide a valid layer after it.
	t := verdict.Tally{Subject: s, Format: "cosign", Noun: "layer", Classify: classify,
		Checking: fmt.Sprintf("%s in %s", tag, s.Repo),
		Unsigned: fmt.Errorf("%s holds no simple-signing layer", tag),
		Listed:   len(att.Layers), Examined: len(att.Layers)}
	for i := range att.Layers {
		l := &att.Layers[i]
		if l.MediaType != SimpleSigningMediaType {
			continue
		}
		// Most payloads are predictable: signet's and cosign's own for this
		// subject. A candidate that hashes to the layer's digest is the
		// blob, byte for byte, and saves a request per manifest.
		if l.Payload == nil {
			guessPayload(l, Payload(s.Identity, s.Digest, nil), Payload(s.Repo.Name(), s.Digest, nil))
		}
		var p *SimpleSigning
		err := v.store.FetchPayload(ctx, s.Repo, l)
		switch {
		case err == nil:
			if p, err = v.verifyLayer(*l, s.Digest); err == nil {
				return p, nil
			}
		case ctx.Err() != nil:
			return nil, err
		case !registry.IsContentFault(err):
			t.Unread(err)
			continue
		default:
			t.Fault(i, err)
			cause := errMalformed
			if errors.Is(err, registry.ErrDigestMismatch) {
				cause = errTampered
			}
			err = fmt.Errorf("layer %s: %w: %w", l.Digest, cause, err)
		}
		t.Reject(i, err)
	}
	return nil, t.Err()
}

// verifyLayer tries every trusted key, then the layer's own certificate
// when trust accepts its chain. Keys come first because cosign verify --key
// ignores certificates too.
func (v *Verifier) verifyLayer(l Layer, digest v1.Hash) (*SimpleSigning, error) {
	var firstErr error
	for _, k := range v.trust.Keys() {
		p, err := VerifyLayer(k, l, digest)
		if err == nil {
			return p, nil
		}
		if firstErr == nil || !errors.Is(err, signature.ErrMismatch) {
			firstErr = err
		}
	}
	if rk, ok := v.trust.(signature.RevokedKeys); ok {
		for _, k := range rk.RevokedKeys() {
			if _, err := VerifyLayer(k, l, digest); err == nil {
				return nil, fmt.Errorf("layer %s: signed by a revoked key: %w", l.Digest, errRevoked)
			}
		}
	}
	if certPEM := l.Annotations[CertificateAnnotation]; certPEM != "" {
		chain, err := parseChain(certPEM, l.Annotations[ChainAnnotation])
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
		}
		// cosign format records no signing time without a transparency log
		// or timestamp authority, so the chain must be valid now.
		if err := v.trust.Chain(chain, time.Now()); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("layer %s: %w", l.Digest, err)
			}
		} else {
			return VerifyLayer(chain[0].PublicKey, l, digest)
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("layer %s: no trusted key or certificate to check it with: %w", l.Digest, signature.ErrMismatch)
	}
	return nil, firstErr
}

func parseChain(certPEM, chainPEM string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for _, b := range []string{certPEM, chainPEM} {
		rest := []byte(b)
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing certificate annotation: %w", err)
			}
			chain = append(chain, c)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("certificate annotation holds no PEM certificate")
	}
	return chain, nil
}

// guessPayload sets l.Payload to the first candidate whose SHA-256 is the
// layer's digest, and reports whether one was. The layer's digest pins its
// payload, so a matching candidate is exactly the blob the registry holds
// (a registry serving other bytes under that digest would be caught by a
// fetch, and is a broken registry, not a forged signature: the signature
// is checked over the candidate's bytes all the same).
func guessPayload(l *Layer, candidates ...[]byte) bool {
	if l.Digest.Algorithm != "sha256" || l.Size <= 0 {
		return false
	}
	for _, c := range candidates {
		if int64(len(c)) != l.Size {
			continue
		}
		sum := sha256.Sum256(c)
		if hex.EncodeToString(sum[:]) == l.Digest.Hex {
			l.Payload = c
			return true
		}
	}
	return false
}
