package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client talks to OCI registries. It is safe for concurrent use, and meant
// to be shared: it holds the connection pool and the authenticated
// transports, one per repository and scope.
type Client struct {
	opts *options
	// base is the transport stack below authentication: user agent,
	// retries, plain-HTTP rewriting, then the caller's or tuned transport.
	base http.RoundTripper

	mu   sync.Mutex
	auth map[authKey]*authEntry

	// single records per registry host whether it takes a blob in the
	// POST that would open an upload session (blob.go).
	single sync.Map

	refLocks Locks // serialises referrers tag index updates per subject (referrers_push.go)
}

// New returns a Client. Bad options fail here, not on first use.
func New(opts ...Option) (*Client, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, auth: map[authKey]*authEntry{}}
	var rt http.RoundTripper = &plainHTTPTransport{inner: o.transport, plain: c.plainHTTP}
	rt = &retryTransport{inner: rt, attempts: o.attempts, base: o.base}
	// A user agent transport on top stops NewWithContext from adding its
	// own, which would hide ours.
	c.base = transport.NewUserAgent(rt, o.userAgent)
	return c, nil
}

// plainHTTP reports whether host ("name", "name:port", "[::1]:port") is
// spoken to over http: loopback, or named with WithInsecure.
func (c *Client) plainHTTP(host string) bool {
	host = strings.ToLower(host)
	if c.opts.insecure[host] {
		return true
	}
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	hostname = strings.Trim(hostname, "[]")
	if c.opts.insecure[hostname] {
		return true
	}
	if hostname == "localhost" || strings.HasSuffix(hostname, ".localhost") {
		return true
	}
	ip := net.ParseIP(hostname)
	return ip != nil && ip.IsLoopback()
}

func (c *Client) scheme(reg name.Registry) string {
	if c.plainHTTP(reg.RegistryStr()) {
		return "http"
	}
	return "https"
}

// endpoint builds a URL on reg from path segments joined by "/" and an
// optional query.
func (c *Client) endpoint(reg name.Registry, path string, query url.Values) string {
	u := url.URL{Scheme: c.scheme(reg), Host: reg.RegistryStr(), Path: path}
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

func repoPath(repo name.Repository, rest ...string) string {
	return "/v2/" + repo.RepositoryStr() + "/" + strings.Join(rest, "/")
}

// An authKey names one authenticated transport. Bearer tokens are scoped
// to a repository and a set of actions, so transports are too.
type authKey struct {
	registry, repository, scope string
}

// An authEntry is an authenticated transport, or the work to make one:
// done is closed once client or err is set.
type authEntry struct {
	done   chan struct{}
	client *http.Client
	err    error
}

// pullClient returns the transport for reading repo. A transport made for
// writing serves reads too (push,pull includes pull), so a repository that
// was written to is not pinged again for reading.
func (c *Client) pullClient(ctx context.Context, repo name.Repository) (*http.Client, error) {
	if hc := c.readyClient(c.repoKey(repo, transport.PushScope)); hc != nil {
		return hc, nil
	}
	return c.authClient(ctx, c.repoKey(repo, transport.PullScope), repo.Registry, repo,
		[]string{repo.Scope(transport.PullScope)})
}

// pushClient returns the transport for writing repo. Deletes use it too:
// a registry that wants an explicit "delete" action answers with a 401
// naming that scope, and go-containerregistry's bearer transport then
// refreshes its token with the scope added.
func (c *Client) pushClient(ctx context.Context, repo name.Repository) (*http.Client, error) {
	return c.authClient(ctx, c.repoKey(repo, transport.PushScope), repo.Registry, repo,
		[]string{repo.Scope(transport.PushScope)})
}

func (c *Client) catalogClient(ctx context.Context, reg name.Registry) (*http.Client, error) {
	scope := reg.Scope(transport.CatalogScope)
	return c.authClient(ctx, authKey{registry: reg.RegistryStr(), scope: scope}, reg, reg, []string{scope})
}

func (c *Client) repoKey(repo name.Repository, scope string) authKey {
	return authKey{registry: repo.RegistryStr(), repository: repo.RepositoryStr(), scope: scope}
}

func (c *Client) readyClient(key authKey) *http.Client {
	c.mu.Lock()
	e := c.auth[key]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	select {
	case <-e.done:
		return e.client
	default:
		return nil
	}
}

// authClient returns the cached transport for key, authenticating once:
// concurrent first callers wait for one ping and token exchange instead of
// each making their own. A failure is not cached, so the next call tries
// again (the registry may have been restarting).
func (c *Client) authClient(ctx context.Context, key authKey, reg name.Registry, resource authn.Resource, scopes []string) (*http.Client, error) {
	for {
		c.mu.Lock()
		e, ok := c.auth[key]
		if !ok {
			e = &authEntry{done: make(chan struct{})}
			c.auth[key] = e
		}
		c.mu.Unlock()

		if !ok {
			e.client, e.err = c.authenticate(ctx, reg, resource, scopes)
			if e.err != nil {
				c.mu.Lock()
				delete(c.auth, key)
				c.mu.Unlock()
			}
			close(e.done)
			return e.client, e.err
		}

		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.done:
		}
		if e.err == nil {
			return e.client, nil
		}
		// The caller that did the work gave up (its context ended); ours
		// is still live, so take the work over rather than fail with an
		// error that is not ours.
		if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
			continue
		}
		return nil, e.err
	}
}

func (c *Client) authenticate(ctx context.Context, reg name.Registry, resource authn.Resource, scopes []string) (*http.Client, error) {
	auth, err := authn.Resolve(ctx, c.opts.keychain, resource)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials for %s: %w", resource, err)
	}
	if c.plainHTTP(reg.RegistryStr()) {
		// Marking the registry insecure lets go-containerregistry accept
		// an http token realm on it.
		if r, err := name.NewRegistry(reg.RegistryStr(), name.Insecure); err == nil {
			reg = r
		}
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, c.base, scopes)
	if err != nil {
		return nil, fmt.Errorf("authenticating to %s for %s: %w", reg.RegistryStr(), strings.Join(scopes, " "), err)
	}
	return &http.Client{Transport: rt}, nil
}

// do sends one request (retried below as configured). A request that got no
// response returns an *Error wrapping the cause; the caller owns resp.Body
// otherwise.
func (c *Client) do(ctx context.Context, hc *http.Client, method, rawURL string, body []byte, header map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		// bytes.Reader gives the request a GetBody, which retries replay.
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, r)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, redactURL(rawURL), err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(method, rawURL, err)
	}
	return resp, nil
}

// discard drains (a bounded part of) a body we do not need, so the
// connection goes back to the pool, and closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4096)
	resp.Body.Close()
}

// readLimited reads a whole response body of at most limit bytes. It reads
// no more than limit+1 bytes whatever the registry sends, and names the size
// (or a lower bound) and the limit when the body is too large. It closes the
// body.
func readLimited(method, rawURL string, resp *http.Response, what string, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%s %s: %s is %d bytes, over the %d-byte limit: %w",
			method, redactURL(rawURL), what, resp.ContentLength, limit, ErrTooLarge)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		// The answer broke off mid-body: as much a transport failure as
		// no answer at all, and as worth repeating.
		return nil, &Error{Method: method, URL: redactURL(rawURL), Err: fmt.Errorf("reading %s: %w", what, err)}
	}
	if n > limit {
		return nil, fmt.Errorf("%s %s: %s is over the %d-byte limit (stopped reading at %d bytes): %w",
			method, redactURL(rawURL), what, limit, n, ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// mediaType returns a Content-Type without parameters.
func mediaType(contentType string) string {
	if contentType == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return mt
	}
	return contentType
}

func statusIn(code int, want ...int) bool {
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}
