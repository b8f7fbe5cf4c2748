package testenv

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// A Fault is what a FaultProxy does to one request.
type Fault int

const (
	Pass            Fault = iota
	TooMany               // 429 with Retry-After: 0
	ServerError           // 500
	BadGateway            // 502
	ResetBefore           // connection reset before the registry sees the request
	ResetAfter            // forwarded, then the connection is reset instead of answering
	BadGatewayAfter       // forwarded, then 502 instead of the registry's answer
	TooManyWait           // 429 with Retry-After: 1
)

// String names the fault as logs and test names show it.
func (f Fault) String() string {
	return [...]string{"Pass", "429", "500", "502", "reset", "reset-after", "502-after", "429-wait"}[f]
}

// FaultProxy passes requests to a real registry on loopback and lets the
// test decide per request what goes wrong (429 with Retry-After, 5xx,
// connection resets before or after the registry acted). It records each
// request it sees.
type FaultProxy struct {
	Host   string
	proxy  *httputil.ReverseProxy
	decide func(r *http.Request, n int) Fault

	mu   sync.Mutex
	seen []SeenRequest
}

// SeenRequest is one request the proxy saw and what it did to it.
type SeenRequest struct {
	Method, Path string
	At           time.Time
	Fault        Fault
}

// NewFaultProxy starts a proxy in front of registryHost; decide picks the
// fault for the n-th request (it runs under a lock).
func NewFaultProxy(t testing.TB, registryHost string, decide func(r *http.Request, n int) Fault) *FaultProxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: registryHost}
	f := &FaultProxy{proxy: httputil.NewSingleHostReverseProxy(target), decide: decide}
	f.proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.Host = srv.Listener.Addr().String()
	return f
}

// ServeHTTP applies the fault decide picks, then forwards or answers.
func (f *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// decide runs under the lock, so its own state needs none.
	f.mu.Lock()
	fa := Pass
	if f.decide != nil {
		fa = f.decide(r, len(f.seen))
	}
	f.seen = append(f.seen, SeenRequest{Method: r.Method, Path: r.URL.Path, At: time.Now(), Fault: fa})
	f.mu.Unlock()

	switch fa {
	case Pass:
		f.proxy.ServeHTTP(w, r)
	case TooMany:
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
	case TooManyWait:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
	case ServerError:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case BadGateway:
		http.Error(w, "bad gateway", http.StatusBadGateway)
	case ResetBefore:
		io.Copy(io.Discard, r.Body)
		reset(w)
	case ResetAfter, BadGatewayAfter:
		rec := httptest.NewRecorder()
		f.proxy.ServeHTTP(rec, r)
		if fa == ResetAfter {
			reset(w)
		} else {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}
	}
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// Requests returns what the front has seen so far, matching keep (all when
// nil).
func (f *FaultProxy) Requests(keep func(SeenRequest) bool) []SeenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SeenRequest
	for _, s := range f.seen {
		if keep == nil || keep(s) {
			out = append(out, s)
		}
	}
	return out
}
