package notation_test

import (
	"crypto/elliptic"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature/notation"
)

// FuzzParseEnvelope feeds hostile envelopes to the parser and, when they
// parse, to every check the verifier runs on them: none may panic.
func FuzzParseEnvelope(f *testing.F) {
	key := testenv.NewECKey(f, elliptic.P256())
	p := newPKI(f, key, true)
	f.Add(signEnvelope(f, p, notation.SignRequest{}))
	f.Add(craft(f, key, baseHeader(), []byte(`{"targetArtifact":{}}`), p.chain[:1]))
	f.Add([]byte(`{"payload":"e30","protected":"e30","header":{"x5c":["AA=="]},"signature":"AA"}`))
	f.Add([]byte(`{"payload":"","protected":"","header":{},"signature":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := notation.ParseEnvelope(b)
		if err != nil {
			return
		}
		_ = e.Verify()
		if pl, err := notation.ParsePayload(e.Payload); err == nil {
			_ = pl.Matches(testSubject)
		}
	})
}
