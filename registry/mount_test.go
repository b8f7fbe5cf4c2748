package registry_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

// TestUploadBlobFrom: a blob another repository of the registry holds is
// mounted with one request and no upload where the registry mounts
// (distribution), and uploaded into the session the registry opens instead
// where it does not (go-containerregistry's registry); either way repo
// holds it afterwards. A source on another registry, or the same
// repository, is a plain upload.
func TestUploadBlobFrom(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, r *testenv.Registry) {
		ctx := testCtx(t)
		c, ct := newClient(t)
		a, dst := mustRepo(t, r.Host+"/mount/a"), mustRepo(t, r.Host+"/mount/b")
		body := randomBytes(t, 512)
		d := sha(body)
		if err := c.UploadBlob(ctx, a, d, body); err != nil {
			t.Fatal(err)
		}
		// Authenticate for dst first so that the counts below are the
		// mount's.
		if _, err := c.BlobExists(ctx, dst, d); err != nil {
			t.Fatal(err)
		}
		if err := c.UploadBlob(ctx, dst, sha([]byte("warm")), []byte("warm")); err != nil {
			t.Fatal(err)
		}
		ct.Reset()
		if err := c.UploadBlobFrom(ctx, dst, d, body, a); err != nil {
			t.Fatalf("UploadBlobFrom: %v", err)
		}
		got := ct.Counts()
		switch {
		case got.Requests == 1 && got.POST == 1:
			t.Logf("%s mounted the blob", b.name)
		case got.Requests == 2 && got.POST == 1 && got.PUT == 1:
			t.Logf("%s does not mount: the body went into the session it opened", b.name)
		default:
			t.Errorf("UploadBlobFrom cost %+v; want one POST (mounted) or POST+PUT", got)
		}
		if b.name == "distribution" && got.Requests != 1 {
			t.Errorf("distribution did not mount (%+v)", got)
		}
		if blob, err := c.Blob(ctx, dst, d, 1024); err != nil || !bytes.Equal(blob, body) {
			t.Errorf("Blob(dst) after UploadBlobFrom = %d bytes, %v; want the blob", len(blob), err)
		}

		// Not on a's registry, or a itself: plain uploads.
		other := mustRepo(t, "other.invalid/mount/a")
		body2 := randomBytes(t, 256)
		if err := c.UploadBlobFrom(ctx, dst, sha(body2), body2, other); err != nil {
			t.Errorf("UploadBlobFrom(another registry) = %v", err)
		}
		if err := c.UploadBlobFrom(ctx, dst, sha(body2), body2, dst); err != nil {
			t.Errorf("UploadBlobFrom(the same repository) = %v", err)
		}
		if err := c.UploadBlobFrom(ctx, dst, d, body[1:], a); !errors.Is(err, registry.ErrDigestMismatch) {
			t.Errorf("UploadBlobFrom(wrong content) = %v; want ErrDigestMismatch", err)
		}
	})
}
