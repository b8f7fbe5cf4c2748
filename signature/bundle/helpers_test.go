package bundle_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t testing.TB) *registry.Client {
	t.Helper()
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func subject(t testing.TB, reg *registry.Client, ref string) signature.Subject {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.Resolve(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return signature.Subject{Repo: r.Context(), Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Identity: r.Name()}
}

func writePub(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func name3(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"signet tests"}, Province: []string{"WA"}, Country: []string{"US"}}
}

// issue makes a root (and an intermediate when inter) and a code-signing
// leaf for key, returning the CA and the leaf-first chain.
func issue(t testing.TB, key testenv.Key, inter bool) (*certs.CA, []*x509.Certificate) {
	t.Helper()
	ca, err := certs.NewRootCA(testenv.NewKey(t), name3("bundle test root"), 0)
	if err != nil {
		t.Fatal(err)
	}
	issuer := ca
	if inter {
		if issuer, err = ca.IssueIntermediate(testenv.NewKey(t), name3("bundle test intermediate"), 0); err != nil {
			t.Fatal(err)
		}
	}
	chain, err := issuer.IssueLeaf(key.Public(), certs.LeafOptions{Subject: name3("bundle signer")})
	if err != nil {
		t.Fatal(err)
	}
	return ca, chain
}

// chainTrust trusts roots, checking chains with x509.Verify as
// policy.Scope does.
type chainTrust struct{ roots []*x509.Certificate }

func (chainTrust) Keys() []crypto.PublicKey { return nil }

func (c chainTrust) Chain(chain []*x509.Certificate, at time.Time) error {
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range c.roots {
		pool.AddCert(r)
	}
	for _, x := range chain[1:] {
		inter.AddCert(x)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	if err != nil {
		return errors.Join(signature.ErrUntrustedChain, err)
	}
	return nil
}

func hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func sha(b []byte) string { return hash(b).String() }

func itoa(n int) string { return strconv.Itoa(n) }
