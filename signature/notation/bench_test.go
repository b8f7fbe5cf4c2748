package notation_test

import (
	"context"
	"crypto/elliptic"
	"testing"
	"time"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature/notation"
)

// BenchmarkSign measures building one envelope with an in-memory P-256 key:
// the format's own cost, without a registry or an HSM round trip.
func BenchmarkSign(b *testing.B) {
	p := newPKI(b, testenv.NewECKey(b, elliptic.P256()), true)
	payload, _ := notation.NewPayload(testSubject, nil)
	req := notation.SignRequest{Payload: payload, Chain: p.chain, SigningTime: time.Now()}
	for b.Loop() {
		if _, err := notation.Sign(context.Background(), p.key, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerify measures the integrity checks a verifier runs per
// signature, chain rules included.
func BenchmarkParseVerify(b *testing.B) {
	p := newPKI(b, testenv.NewECKey(b, elliptic.P256()), true)
	env := signEnvelope(b, p, notation.SignRequest{})
	for b.Loop() {
		e, err := notation.ParseEnvelope(env)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}
