package attest

import (
	"crypto"
	"encoding/json"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature/dsse"
)

// FuzzParse feeds arbitrary bytes to everything that reads data from a
// registry (BuildKit statements, envelopes, statements to compare or to
// check requirements against): none may panic, and a provenance that
// parses must encode again.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"buildkit-provenance-v02.json", "buildkit-provenance-v1.json"} {
		b, err := os.ReadFile("testdata/" + file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"MEUCIQ=="}]}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":"a","digest":{"sha256":"SUBJECT_HEX"}}],"predicate":{"metadata":{"buildStartedOn":null}}}`))
	key := testenv.NewKey(f)
	digest := v1.Hash{Algorithm: "sha256", Hex: "SUBJECT_HEX"}
	req, _ := ParseRequirement("predicate.runDetails.builder.id=x")
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParseBuildKitStatement(b, digest); err == nil {
			if _, err := json.Marshal(p); err != nil {
				t.Fatalf("provenance parsed from %q does not encode: %v", b, err)
			}
		}
		if e, err := dsse.Parse(b); err == nil {
			e.Verify([]crypto.PublicKey{key.Public()})
		}
		if st, err := ParseStatement(b); err == nil {
			claimKey(st)
			req.Check(st)
		}
	})
}
