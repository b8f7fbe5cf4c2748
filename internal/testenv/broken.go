package testenv

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// A Breakage is what a BrokenRegistry does to reads of one path.
type Breakage int

const (
	Intact    Breakage = iota
	Gone               // 404, as for a blob or manifest that is gone
	Oversized          // 200 with a body of the oversize NewBrokenRegistry was given
	Altered            // 200 with the body changed
	Failing            // 500
	Denied             // 403 DENIED
	Reset              // the connection is reset
)

// BrokenRegistry serves go-containerregistry's in-memory registry without
// the referrers API, so that listings come from the sha256-<hex> tag index
// in push order, and breaks reads (GET and HEAD) of the paths a test names:
// the failures a registry gives for a referrer that is gone or damaged,
// and those it gives when it is failing itself.
type BrokenRegistry struct {
	Host     string
	inner    http.Handler
	oversize int64

	mu     sync.Mutex
	breaks map[string]Breakage

	// BlobGETs counts blob reads, so a test can tell what was fetched.
	BlobGETs atomic.Int64
}

// NewBrokenRegistry starts one on loopback; an Oversized read answers
// with oversize bytes.
func NewBrokenRegistry(t testing.TB, oversize int64) *BrokenRegistry {
	t.Helper()
	f := &BrokenRegistry{
		inner:    ggcrregistry.New(ggcrregistry.WithReferrersSupport(false), ggcrregistry.Logger(log.New(io.Discard, "", 0))),
		oversize: oversize,
		breaks:   map[string]Breakage{},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.Host = srv.Listener.Addr().String()
	return f
}

// Break makes reads of path (/v2/<repo>/manifests/<digest> or
// /v2/<repo>/blobs/<digest>) fail as b says; Intact mends it.
func (f *BrokenRegistry) Break(path string, b Breakage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.breaks[path] = b
}

// ServeHTTP breaks what the test asked for and serves the rest.
func (f *BrokenRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		f.BlobGETs.Add(1)
	}
	f.mu.Lock()
	b := f.breaks[r.URL.Path]
	f.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		b = Intact
	}
	switch b {
	case Intact:
		f.inner.ServeHTTP(w, r)
	case Gone:
		code := "BLOB_UNKNOWN"
		if strings.Contains(r.URL.Path, "/manifests/") {
			code = "MANIFEST_UNKNOWN"
		}
		writeRegistryError(w, http.StatusNotFound, code)
	case Failing:
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN")
	case Denied:
		writeRegistryError(w, http.StatusForbidden, "DENIED")
	case Oversized:
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte{' '}, 64<<10)
		for n := int64(0); n < f.oversize; n += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case Altered:
		rec := httptest.NewRecorder()
		f.inner.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)/2] ^= 1
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	case Reset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
	}
}

func writeRegistryError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"errors":[{"code":"`+code+`","message":"broken by the test"}]}`)
}
