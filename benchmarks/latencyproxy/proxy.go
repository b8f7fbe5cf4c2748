// Package latencyproxy is the loopback HTTP proxy the benchmarks put in front
// of a registry: it delays every request by a fixed time (a distant
// registry) and counts requests by method, blob upload sessions and the
// auth ping, so that the round trips of tools that cannot count their own
// (notation, cosign) are measured the same way as signet's.
//
// It is a benchmark tool, not a general proxy: it binds 127.0.0.1 only and
// forwards to one registry over plain HTTP.
package latencyproxy

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Proxy forwards to one registry, delaying and counting.
type Proxy struct {
	// Host is the proxy's "127.0.0.1:PORT"; image references naming it
	// reach the registry through the proxy.
	Host string

	delay atomic.Int64 // time.Duration
	srv   *http.Server
	ln    net.Listener

	get, head, put, post, patch, del, other atomic.Int64
	uploads, mounts, pings, errs            atomic.Int64
}

// Counts is a snapshot of what a Proxy forwarded.
type Counts struct {
	Requests                            int64
	GET, HEAD, PUT, POST, PATCH, DELETE int64
	// Uploads counts blob uploads started (POST …/blobs/uploads/, a
	// session or a single-request upload); cross-repository mounts are
	// counted apart, as Mounts, since they carry no data.
	Uploads int64
	Mounts  int64
	// Pings counts GET /v2/.
	Pings int64
	// Errors counts requests the registry did not answer (proxy errors).
	Errors int64
}

// Sub returns c minus o, field by field.
func (c Counts) Sub(o Counts) Counts {
	return Counts{
		Requests: c.Requests - o.Requests, GET: c.GET - o.GET, HEAD: c.HEAD - o.HEAD, PUT: c.PUT - o.PUT,
		POST: c.POST - o.POST, PATCH: c.PATCH - o.PATCH, DELETE: c.DELETE - o.DELETE,
		Uploads: c.Uploads - o.Uploads, Mounts: c.Mounts - o.Mounts, Pings: c.Pings - o.Pings, Errors: c.Errors - o.Errors,
	}
}

// Start listens on a free loopback port and forwards to registryHost
// ("127.0.0.1:PORT") over plain HTTP, delaying every request by delay
// before it is forwarded.
func Start(registryHost string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Host: ln.Addr().String(), ln: ln}
	p.delay.Store(int64(delay))
	target := &url.URL{Scheme: "http", Host: registryHost}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// Keep the Host the client used: distribution builds absolute
			// upload Locations from it, and they must lead back here so
			// that the PUT that follows is delayed and counted too.
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			// As many idle connections as the most concurrent client the
			// benchmarks run (signet with 128 workers): a proxy that
			// redials would measure itself, not the registry.
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.errs.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.count(r)
			if d := time.Duration(p.delay.Load()); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("latencyproxy %s: %v", p.Host, err)
		}
	}()
	return p, nil
}

// SetDelay changes the delay for requests that arrive from now on.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

func (p *Proxy) count(r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		p.get.Add(1)
		if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
			p.pings.Add(1)
		}
	case http.MethodHead:
		p.head.Add(1)
	case http.MethodPut:
		p.put.Add(1)
	case http.MethodPost:
		p.post.Add(1)
		if strings.HasSuffix(r.URL.Path, "/blobs/uploads/") || strings.HasSuffix(r.URL.Path, "/blobs/uploads") {
			if r.URL.Query().Get("mount") != "" {
				p.mounts.Add(1)
			} else {
				p.uploads.Add(1)
			}
		}
	case http.MethodPatch:
		p.patch.Add(1)
	case http.MethodDelete:
		p.del.Add(1)
	default:
		p.other.Add(1)
	}
}

// Counts returns what the proxy has forwarded so far.
func (p *Proxy) Counts() Counts {
	c := Counts{
		GET: p.get.Load(), HEAD: p.head.Load(), PUT: p.put.Load(), POST: p.post.Load(),
		PATCH: p.patch.Load(), DELETE: p.del.Load(),
		Uploads: p.uploads.Load(), Mounts: p.mounts.Load(), Pings: p.pings.Load(), Errors: p.errs.Load(),
	}
	c.Requests = c.GET + c.HEAD + c.PUT + c.POST + c.PATCH + c.DELETE + p.other.Load()
	return c
}
