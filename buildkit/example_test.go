package buildkit_test

import (
	"fmt"

	"github.com/signet-project/signet/buildkit"
)

func ExampleParseIntent() {
	dockerfile := []byte(`# syntax=registry.example/signet-frontend:1
# signet:formats=cosign,notation
# signet:attest=provenance
FROM scratch
COPY app /app
`)
	req, err := buildkit.ParseIntent("Dockerfile", dockerfile, map[string]string{
		buildkit.ArgKey: "pkcs11:token=release;object=prod",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Formats, req.Attest, req.Key)
	fmt.Println(req.Origins["formats"], req.Origins["key"])

	_, err = buildkit.ParseIntent("Dockerfile", dockerfile, map[string]string{
		buildkit.ArgKey: "pkcs11:token=release;object=prod?pin-value=1234",
	})
	fmt.Println(err != nil)
	// Output:
	// [cosign notation] [provenance] pkcs11:token=release;object=prod
	// Dockerfile:2 build-arg:SIGNET_KEY
	// true
}
