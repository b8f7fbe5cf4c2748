package hsm

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// Option configures Open, Generate, ImportCertificates and LoadPublicKey.
type Option func(*options) error

type options struct {
	sessions int
	password func() ([]byte, error)
	module   string
	hold     *TokenHold
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{sessions: runtime.NumCPU()}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithSessions sets how many PKCS#11 sessions a key opens for signing; that
// many signatures run at once, and further callers wait for a free session.
// The default is runtime.NumCPU(), lowered to what the token allows. File
// keys ignore it.
func WithSessions(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("hsm.WithSessions(%d): need at least one session", n)
		}
		o.sessions = n
		return nil
	}
}

// WithPassword supplies the token PIN or the key file's password, replacing
// the URI's pin-value/pin-source and the SIGNET_PKCS11_PIN,
// SIGNET_KEY_PASSWORD and COSIGN_PASSWORD variables. It is called only when
// a login or a decryption needs it, at most once per Open.
func WithPassword(f func() ([]byte, error)) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("hsm.WithPassword(nil): need a function")
		}
		o.password = f
		return nil
	}
}

// WithModule names the PKCS#11 library for URIs without module-path. It takes
// precedence over SIGNET_PKCS11_MODULE; a module-path in the URI wins over
// both.
func WithModule(path string) Option {
	return func(o *options) error {
		if path == "" {
			return errors.New(`hsm.WithModule(""): need a module path`)
		}
		o.module = path
		return nil
	}
}

// modulePath picks the module for u, or says how to name one.
func (o *options) modulePath(u *URI) (string, error) {
	switch {
	case u.ModulePath != "":
		return u.ModulePath, nil
	case o.module != "":
		return o.module, nil
	case os.Getenv("SIGNET_PKCS11_MODULE") != "":
		return os.Getenv("SIGNET_PKCS11_MODULE"), nil
	case u.ModuleName != "":
		return "", fmt.Errorf("module path missing: module-name=%s is not resolved by signet; set module-path= or SIGNET_PKCS11_MODULE", u.ModuleName)
	}
	return "", errors.New("module path missing: set module-path= in the URI or SIGNET_PKCS11_MODULE")
}

// pinFunc returns where u's PIN comes from; the function returns nil, nil
// when no PIN is configured anywhere.
func (o *options) pinFunc(u *URI) func() ([]byte, error) {
	if o.password != nil {
		return o.password
	}
	return u.PIN
}

// filePassword returns the password for an encrypted key file: the option,
// else SIGNET_KEY_PASSWORD, else COSIGN_PASSWORD. A variable that is set but
// empty means the empty password, as with cosign. ok is false when none is
// set.
func (o *options) filePassword() (pw []byte, ok bool, err error) {
	if o.password != nil {
		pw, err = o.password()
		return pw, err == nil, err
	}
	for _, name := range []string{"SIGNET_KEY_PASSWORD", "COSIGN_PASSWORD"} {
		if v, set := os.LookupEnv(name); set {
			return []byte(v), true, nil
		}
	}
	return nil, false, nil
}
