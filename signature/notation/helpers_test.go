package notation_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
)

// pki is a throwaway CA with a code-signing leaf for one key.
type pki struct {
	ca    *certs.CA
	key   testenv.Key
	chain []*x509.Certificate // leaf, [intermediate,] root
}

func (p *pki) root() *x509.Certificate { return p.chain[len(p.chain)-1] }

func subjectName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"signet tests"}, Province: []string{"WA"}, Country: []string{"US"}}
}

// newPKI makes root → leaf for key (and an intermediate when inter).
func newPKI(t testing.TB, key testenv.Key, inter bool) *pki {
	t.Helper()
	ca, err := certs.NewRootCA(testenv.NewECKey(t, elliptic.P256()), subjectName("signet test root"), 0)
	if err != nil {
		t.Fatal(err)
	}
	issuer := ca
	if inter {
		if issuer, err = ca.IssueIntermediate(testenv.NewECKey(t, elliptic.P384()), subjectName("signet test intermediate"), 0); err != nil {
			t.Fatal(err)
		}
	}
	chain, err := issuer.IssueLeaf(key.Public(), certs.LeafOptions{Subject: subjectName("signet test signer")})
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ca: ca, key: key, chain: chain}
}

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

// subject resolves ref as the batch planner does: the registry's
// descriptor, Content-Type included.
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

// chainTrust trusts roots and checks chains with x509.Verify, as
// policy.Scope does; policy sits above the formats, so format tests do not
// import it.
type chainTrust struct {
	roots []*x509.Certificate
	keys  []crypto.PublicKey
}

func (c chainTrust) Keys() []crypto.PublicKey { return c.keys }

func (c chainTrust) Chain(chain []*x509.Certificate, at time.Time) error {
	pool := x509.NewCertPool()
	for _, r := range c.roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, x := range chain[1:] {
		inter.AddCert(x)
	}
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return errors.Join(signature.ErrUntrustedChain, err)
	}
	return nil
}
