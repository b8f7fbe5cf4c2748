package referrer_test

import (
	"fmt"

	"github.com/signet-project/signet/signature/referrer"
)

// Every referrer signature shares one config blob, "{}"; each format names
// it with its own media type.
func ExampleConfigDescriptor() {
	d := referrer.ConfigDescriptor("application/vnd.cncf.notary.signature")
	fmt.Println(d.MediaType, d.Size, d.Digest)
	// Output: application/vnd.cncf.notary.signature 2 sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
}
