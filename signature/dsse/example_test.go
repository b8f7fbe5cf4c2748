package dsse_test

import (
	"fmt"

	"github.com/signet-project/signet/signature/dsse"
)

// PAE is what a DSSE signature covers: the payload type and the payload,
// each prefixed by its length, so neither can be changed alone.
func ExamplePAE() {
	fmt.Printf("%s\n", dsse.PAE("application/vnd.in-toto+json", []byte(`{"_type":"x"}`)))
	// Output: DSSEv1 28 application/vnd.in-toto+json 13 {"_type":"x"}
}
