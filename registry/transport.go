package registry

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// NewTransport returns the tuned transport a Client uses when WithTransport
// is not given. It is exported so that callers who wrap the base transport
// (to count or trace requests) keep the tuning.
//
// A batch signs hundreds of images in one repository at once, so idle
// connections per host are kept far above net/http's default of 2: below the
// batch's concurrency every request beyond the second would otherwise dial
// (and on TLS, handshake) again.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		// Setting DialContext turns HTTP/2 off unless asked for; registries
		// behind TLS serve many streams over one connection.
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A registry that accepted a request but never answers would
		// otherwise hold a batch worker for as long as the batch's context
		// lives. Signet's requests carry small bodies, so a healthy registry
		// answers well within this.
		ResponseHeaderTimeout: 2 * time.Minute,
	}
}

// plainHTTPTransport keeps go-containerregistry's auth ping off HTTPS for
// hosts the Client speaks plain HTTP to. That ping tries https first for
// every registry and falls back to http (after 300ms, or at once when https
// fails); failing the https attempt here, before it reaches the network,
// makes the handshake a single http request and keeps retries from running
// twice against a registry that is down. Only the ping (GET /v2/) is
// affected: a token server on such a host may still use TLS.
type plainHTTPTransport struct {
	inner http.RoundTripper
	plain func(host string) bool
}

// errPlainHTTPHost is what the https half of the auth ping meets.
var errPlainHTTPHost = errors.New("not tried: the registry is spoken to over plain HTTP")

func (t *plainHTTPTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && (req.URL.Path == "/v2/" || req.URL.Path == "/v2") && t.plain(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errPlainHTTPHost
	}
	return t.inner.RoundTrip(req)
}

// Retry policy bounds.
const (
	// maxBackoff caps one computed backoff step.
	maxBackoff = 10 * time.Second
	// maxRetryAfter caps a registry's Retry-After: a batch would rather fail
	// an image than stall for the minutes a rate limiter may ask for.
	maxRetryAfter = 30 * time.Second
)

// retryTransport repeats requests that failed in a way that may pass: the
// statuses in retryableStatus and dropped, reset or refused connections.
//
// It sits below go-containerregistry's auth transport, so the auth ping and
// token exchange are retried too. Bodies are replayed through GetBody on
// every attempt, including the first: the bearer transport hands the same
// request down again after refreshing its token, and while net/http's
// Transport rewinds a drained body itself, a caller's base transport
// (WithTransport) need not.
type retryTransport struct {
	inner    http.RoundTripper
	attempts int
	base     time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != http.NoBody
	attempts := t.attempts
	if hasBody && req.GetBody == nil {
		// A body we cannot replay allows one attempt only.
		attempts = 1
	}
	if hasBody && req.GetBody != nil {
		// Every attempt reads a fresh copy from GetBody; the original body
		// is still ours to close.
		req.Body.Close()
	}
	for attempt := 1; ; attempt++ {
		r := req
		if hasBody && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			// A shallow copy is enough: only the body differs between
			// attempts, and a deep Clone per request showed in profiles.
			cp := *req
			cp.Body = body
			r = &cp
		}
		resp, err := t.inner.RoundTrip(r)
		if attempt >= attempts || ctx.Err() != nil {
			return resp, err
		}
		var wait time.Duration
		if err != nil {
			if !retryableNetError(err) {
				return nil, err
			}
			wait = t.backoff(attempt)
		} else {
			if !retryableStatus(resp.StatusCode) {
				return resp, nil
			}
			if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = d
			} else {
				wait = t.backoff(attempt)
			}
			// Draining a little lets the connection be reused for the
			// next attempt; an error page larger than this is dropped
			// together with its connection.
			io.CopyN(io.Discard, resp.Body, 4096)
			resp.Body.Close()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// backoff is exponential in the attempt with "equal jitter": half the step
// is fixed, half random, so concurrent workers that failed together spread
// out but none retries immediately.
func (t *retryTransport) backoff(attempt int) time.Duration {
	if t.base <= 0 {
		return 0
	}
	// Doubling step by step rather than shifting cannot overflow.
	d := t.base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3), capped at maxRetryAfter.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = max(at.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// CountingTransport counts the HTTP requests that pass through it, by
// method, the blob upload sessions started (POST …/blobs/uploads/) and the
// cross-repository mounts asked for (the same POST with mount=).
// Wrap a Client's base transport with it (WithTransport) to measure what an
// operation costs; every retry attempt is a request of its own. It is safe
// for concurrent use.
type CountingTransport struct {
	inner http.RoundTripper

	get, head, put, post, patch, del, other atomic.Int64
	uploads, mounts, pings                  atomic.Int64
}

var _ http.RoundTripper = (*CountingTransport)(nil)

// NewCountingTransport counts requests sent through inner; a nil inner means
// NewTransport().
func NewCountingTransport(inner http.RoundTripper) *CountingTransport {
	if inner == nil {
		inner = NewTransport()
	}
	return &CountingTransport{inner: inner}
}

// RoundTrip counts req and passes it on.
func (c *CountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.counter(req.Method).Add(1)
	path := req.URL.Path
	switch {
	case req.Method == http.MethodPost && (strings.HasSuffix(path, "/blobs/uploads/") || strings.HasSuffix(path, "/blobs/uploads")):
		if req.URL.Query().Get("mount") != "" {
			c.mounts.Add(1)
		} else {
			c.uploads.Add(1)
		}
	case req.Method == http.MethodGet && (path == "/v2/" || path == "/v2"):
		c.pings.Add(1)
	}
	return c.inner.RoundTrip(req)
}

func (c *CountingTransport) counter(method string) *atomic.Int64 {
	switch method {
	case http.MethodGet:
		return &c.get
	case http.MethodHead:
		return &c.head
	case http.MethodPut:
		return &c.put
	case http.MethodPost:
		return &c.post
	case http.MethodPatch:
		return &c.patch
	case http.MethodDelete:
		return &c.del
	}
	return &c.other
}

// Counts is a snapshot of a CountingTransport.
type Counts struct {
	// Requests is the total over all methods.
	Requests                            int64
	GET, HEAD, PUT, POST, PATCH, DELETE int64
	// Uploads counts blob upload sessions started (POST …/blobs/uploads/).
	Uploads int64
	// Mounts counts cross-repository mounts asked for (POST
	// …/blobs/uploads/?mount=…&from=…); one the registry refuses opens an
	// upload session instead, which is then not counted in Uploads.
	Mounts int64
	// Pings counts GET /v2/, the auth handshake's first step.
	Pings int64
}

// Counts returns the current counts. Concurrent requests may land between
// the reads of two fields.
func (c *CountingTransport) Counts() Counts {
	s := Counts{
		GET: c.get.Load(), HEAD: c.head.Load(), PUT: c.put.Load(), POST: c.post.Load(),
		PATCH: c.patch.Load(), DELETE: c.del.Load(),
		Uploads: c.uploads.Load(), Mounts: c.mounts.Load(), Pings: c.pings.Load(),
	}
	s.Requests = s.GET + s.HEAD + s.PUT + s.POST + s.PATCH + s.DELETE + c.other.Load()
	return s
}

// Requests returns the number of requests so far.
func (c *CountingTransport) Requests() int64 { return c.Counts().Requests }

// Count returns the number of requests with the given method so far.
func (c *CountingTransport) Count(method string) int64 { return c.counter(method).Load() }

// Uploads returns the number of blob upload sessions started so far.
func (c *CountingTransport) Uploads() int64 { return c.uploads.Load() }

// Pings returns the number of GET /v2/ requests so far.
func (c *CountingTransport) Pings() int64 { return c.pings.Load() }

// Reset sets all counts to zero.
func (c *CountingTransport) Reset() {
	for _, n := range []*atomic.Int64{&c.get, &c.head, &c.put, &c.post, &c.patch, &c.del, &c.other, &c.uploads, &c.mounts, &c.pings} {
		n.Store(0)
	}
}
