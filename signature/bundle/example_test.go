package bundle_test

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature/bundle"
)

// The statement a bundle signature signs names the manifest by digest
// alone, with cosign's signature predicate type and an empty predicate.
func ExampleNewStatement() {
	st, err := bundle.NewStatement(v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(st))
	// Output: {"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"abababababababababababababababababababababababababababababababab"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}
}
