package cosign_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

// TestVerifyReadsOnlyTheManifest: a payload the verifier can predict
// (signet's, for the identity the subject is verified under) is not
// fetched, since the layer's digest pins it; one that it cannot predict
// (another identity) is, and both verify.
func TestVerifyReadsOnlyTheManifest(t *testing.T) {
	ctx := context.Background()
	tr := testenv.MemRegistry(t, false)
	ct := registry.NewCountingTransport(nil)
	reg, err := registry.New(registry.WithTransport(ct))
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, tr.Host, "app", "v1")
	s := subject(t, reg, tr.Host+"/app:v1")
	key := testenv.NewKey(t)
	store := cosign.NewStore(reg)
	if _, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s); err != nil {
		t.Fatal(err)
	}
	v := cosign.NewVerifier(cosign.NewStore(reg), signature.KeyTrust{Key: key.Public()})
	ct.Reset()
	if _, err := v.Verify(ctx, s); err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	if got := ct.Count(http.MethodGet); got != 1 {
		t.Errorf("Verify() sent %d GETs; want 1 (the .sig manifest, no payload blob)", got)
	}
	other := s
	other.Identity = tr.Host + "/app:latest"
	ct.Reset()
	if _, err := v.Verify(ctx, other); err != nil {
		t.Fatalf("Verify(other identity) = %v", err)
	}
	if got := ct.Count(http.MethodGet); got != 2 {
		t.Errorf("Verify(other identity) sent %d GETs; want 2 (the .sig manifest and the payload)", got)
	}
}
