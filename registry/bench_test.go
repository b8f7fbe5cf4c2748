package registry_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
)

// BenchmarkPushSignature pushes what one signature costs at most (a payload
// blob and its manifest; the shared empty config is uploaded once) to
// go-containerregistry's in-memory registry and reports requests and
// uploads per signature.
func BenchmarkPushSignature(b *testing.B) {
	r := testenv.MemRegistry(b, false)
	c, ct := newClient(b)
	repo := mustRepo(b, r.Host+"/bench")
	ctx := testCtx(b)
	config := []byte("{}")
	if err := c.UploadBlob(ctx, repo, sha(config), config); err != nil {
		b.Fatal(err)
	}
	ct.Reset()
	payload := make([]byte, 256)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(payload, uint64(i))
		d := sha(payload)
		if err := c.UploadBlob(ctx, repo, d, payload); err != nil {
			b.Fatal(err)
		}
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[{"mediaType":"application/octet-stream","digest":%q,"size":256}]}`,
			types.OCIManifestSchema1, sha(config), d)
		if _, err := c.PutManifest(ctx, repo.Tag(fmt.Sprintf("sig-%d", i)), string(types.OCIManifestSchema1), []byte(m)); err != nil {
			b.Fatal(err)
		}
	}
	counts := ct.Counts()
	b.ReportMetric(float64(counts.Requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(counts.Uploads)/float64(b.N), "uploads/op")
}
