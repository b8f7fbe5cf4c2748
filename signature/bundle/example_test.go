package bundle_test

import (
	"fmt"

	"github.com/signet-project/signet/signature/bundle"
)

// PAE is what a DSSE signature covers: the payload type and the payload,
// each prefixed by its length.
func ExamplePAE() {
	fmt.Printf("%s\n", bundle.PAE(bundle.PayloadType, []byte("{}")))
	// Output: DSSEv1 28 application/vnd.in-toto+json 2 {}
}
