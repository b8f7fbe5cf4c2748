package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

type options struct {
	insecure  map[string]bool
	keychain  authn.Keychain
	transport http.RoundTripper
	attempts  int
	base      time.Duration
	userAgent string
	pageSize  int
}

// Defaults, documented on the options that change them.
const (
	defaultAttempts  = 5
	defaultBase      = 200 * time.Millisecond
	defaultUserAgent = "signet"
	// distribution refuses a catalog page over 1000 entries
	// (PAGINATION_NUMBER_INVALID); the same size keeps tag listing to one
	// request for nearly every repository.
	defaultPageSize = 1000
)

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		insecure:  map[string]bool{},
		keychain:  authn.DefaultKeychain,
		attempts:  defaultAttempts,
		base:      defaultBase,
		userAgent: defaultUserAgent,
		pageSize:  defaultPageSize,
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.transport == nil {
		o.transport = NewTransport()
	}
	return o, nil
}

// WithInsecure names registries to speak plain HTTP to, as
// go-containerregistry's name.Insecure does. A host with a port
// ("reg.internal:5000") matches that port only; a host without one matches
// every port. Loopback hosts (127.0.0.0/8, ::1, localhost) are always plain
// HTTP and need not be named. Default: none.
func WithInsecure(hosts ...string) Option {
	return func(o *options) error {
		for _, h := range hosts {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "" || strings.Contains(h, "/") {
				return fmt.Errorf("registry: WithInsecure: %q is not a registry host", h)
			}
			o.insecure[h] = true
		}
		return nil
	}
}

// WithKeychain sets where credentials come from. Default:
// authn.DefaultKeychain (docker config.json and its credential helpers).
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			return errors.New("registry: WithKeychain: nil keychain")
		}
		o.keychain = kc
		return nil
	}
}

// WithTransport sets the base transport every request goes through, below
// retries and authentication. Default: one NewTransport() per Client. Wrap
// NewTransport() (for instance in a CountingTransport) to keep its tuning.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("registry: WithTransport: nil transport")
		}
		o.transport = rt
		return nil
	}
}

// WithRetries sets how many times a request is attempted in all (max ≥ 1;
// 1 disables retries) and the first backoff step, which doubles per attempt
// (jittered, capped at 10s; a registry's Retry-After replaces it, capped at
// 30s). Default: 5 attempts, 200ms.
func WithRetries(max int, base time.Duration) Option {
	return func(o *options) error {
		if max < 1 {
			return fmt.Errorf("registry: WithRetries: %d attempts; need at least 1", max)
		}
		if base < 0 {
			return fmt.Errorf("registry: WithRetries: negative backoff %s", base)
		}
		o.attempts, o.base = max, base
		return nil
	}
}

// WithUserAgent sets the product token sent before go-containerregistry's
// own. Default: "signet".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// WithPageSize sets the n parameter of tag and catalog listings. Default:
// 1000, the most distribution allows for the catalog.
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("registry: WithPageSize: %d; need at least 1", n)
		}
		o.pageSize = n
		return nil
	}
}
