package bundle_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
)

// FuzzParseBundle feeds hostile bundles to the parser and, when they
// parse, to the checks the verifier runs: none may panic.
func FuzzParseBundle(f *testing.F) {
	key := testenv.NewKey(f)
	st, _ := bundle.NewStatement(testDigest)
	for _, o := range []bundle.SignOptions{{}, {Chain: func() []*x509.Certificate { _, c := issue(f, key, true); return c }()}} {
		b, err := bundle.Sign(context.Background(), key, st, o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"e30=","payloadType":"x","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{"verificationMaterial":{"x509CertificateChain":{"certificates":[]}}}`))
	pub := key.Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		bd, err := bundle.Parse(b)
		if err != nil {
			return
		}
		_, _ = bd.Chain()
		_ = bd.VerifySignature(pub)
		payload, _ := bd.DSSEEnvelope.DecodedPayload()
		if st, err := bundle.ParseStatement(payload); err == nil {
			_ = st.Names(testDigest)
		}
		_ = signature.Subject{}
	})
}
