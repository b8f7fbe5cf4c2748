package attest

import (
	"context"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

// BenchmarkSeal measures building, signing and encoding one provenance
// attestation with an in-memory P-256 key (the HSM's share is measured in
// hsm's own benchmarks).
func BenchmarkSeal(b *testing.B) {
	key := testenv.NewKey(b)
	s := testSubject(b)
	f, err := NewFormat(nil, key, Spec{Type: SLSAProvenanceV1}, WithOverrides(Overrides{BuilderID: "https://ci.example/b", SourceURI: "git+https://example.com/app@refs/heads/main"}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := f.Statement(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.seal(ctx, s, st); err != nil {
			b.Fatal(err)
		}
	}
}
