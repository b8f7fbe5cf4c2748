package demo

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"

	"github.com/signet-project/signet/hsm"
)

// TestFileKey covers the demo's fallback when no SoftHSM token can be made
// (softhsm2 absent, or a build without cgo): the key must open without a
// password, whatever SIGNET_KEY_PASSWORD says, and sign.
func TestFileKey(t *testing.T) {
	t.Setenv("SIGNET_KEY_PASSWORD", "unrelated")
	path, err := fileKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k, err := hsm.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("opening the demo's file key: %v", err)
	}
	defer k.Close()
	d := sha256.Sum256([]byte("demo"))
	sig, err := k.SignDigest(context.Background(), d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Error("the demo key's signature does not verify")
	}
}
