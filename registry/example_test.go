package registry_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/registry"
)

// Example pushes a blob and a manifest to a registry on loopback and counts
// what that cost.
func Example() {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	counter := registry.NewCountingTransport(nil)
	c, err := registry.New(registry.WithTransport(counter))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	repo, _ := name.NewRepository(host + "/app")

	config := []byte("{}")
	if err := c.UploadBlob(ctx, repo, sha(config), config); err != nil {
		log.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[]}`,
		types.OCIManifestSchema1, sha(config))
	res, err := c.PutManifest(ctx, repo.Tag("v1"), string(types.OCIManifestSchema1), []byte(manifest))
	if err != nil {
		log.Fatal(err)
	}
	d, err := c.Resolve(ctx, repo.Tag("v1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resolved to the pushed digest:", d.Digest == res.Digest)

	counts := counter.Counts()
	fmt.Printf("requests: %d (auth pings %d, uploads %d)\n", counts.Requests, counts.Pings, counts.Uploads)

	_, err = c.Resolve(ctx, repo.Tag("v2"))
	fmt.Println("v2 not found:", registry.IsNotFound(err))
	// Output:
	// resolved to the pushed digest: true
	// requests: 4 (auth pings 1, uploads 1)
	// v2 not found: true
}
