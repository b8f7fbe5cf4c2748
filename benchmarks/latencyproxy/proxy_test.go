package latencyproxy

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

// TestProxyDelaysAndCounts pushes a blob to docker-registry through the
// proxy (distribution answers with absolute upload Locations, which must
// lead back through it) and checks the counts and the delay.
func TestProxyDelaysAndCounts(t *testing.T) {
	r := testenv.DockerRegistry(t)
	const delay = 20 * time.Millisecond
	p, err := Start(r.Host, delay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	repo, err := name.NewRepository(p.Host + "/proxy/test")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("through the proxy")
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	start := time.Now()
	if err := c.UploadBlob(ctx, repo, d, body); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	got := p.Counts()
	// A ping, the POST (which carries the blob; distribution opens a
	// session anyway) and the PUT: every one of them through the proxy.
	if got.Pings != 1 || got.POST != 1 || got.PUT != 1 || got.Uploads != 1 || got.Requests != 3 || got.Errors != 0 {
		t.Errorf("Counts() = %+v; want a ping, one upload POST and one PUT", got)
	}
	if took < time.Duration(got.Requests)*delay {
		t.Errorf("%d requests took %s; want at least %s each", got.Requests, took, delay)
	}
	if diff := got.Sub(got); diff != (Counts{}) {
		t.Errorf("Sub(self) = %+v; want zero", diff)
	}
}
