package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/signet-project/signet/hsm"
)

// A file key and a token key are used the same way: open by reference,
// sign digests, close. With a "pkcs11:" URI the key stays in the token.
func Example() {
	dir, err := os.MkdirTemp("", "signet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Unsetenv("SIGNET_KEY_PASSWORD")
	os.Unsetenv("COSIGN_PASSWORD")

	ctx := context.Background()
	ref := filepath.Join(dir, "release.key")
	if _, err := hsm.Generate(ctx, ref, hsm.AlgECDSAP256); err != nil {
		log.Fatal(err)
	}
	key, err := hsm.Open(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	defer key.Close()

	digest := sha256.Sum256([]byte("payload"))
	sig, err := key.SignDigest(ctx, digest[:], crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := hsm.LoadPublicKey(ctx, ref+".pub")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig))
	// Output: true
}

func ExampleParseURI() {
	u, err := hsm.ParseURI("pkcs11:token=signer;object=release-key;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Token, u.Object, u.ID)
	fmt.Println(u) // never the PIN
	// Output:
	// signer release-key [1]
	// pkcs11:token=signer;object=release-key;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so
}
