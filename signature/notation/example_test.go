package notation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"github.com/signet-project/signet/signature/notation"
)

// The key decides the JWS algorithm; a signature naming any other is
// rejected as an algorithm substitution.
func ExampleAlgorithmFor() {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	alg, _ := notation.AlgorithmFor(k.Public())
	fmt.Println(alg.Name, alg.Hash)
	// Output: ES384 SHA-384
}
