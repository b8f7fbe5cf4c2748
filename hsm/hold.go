package hsm

import (
	"errors"
	"sync"
)

// A TokenHold keeps open every token that keys are opened on through it
// (WithTokenHold), until Close. A token remembers its login, and a PIN
// failure so that it is never tried again, only while something has it
// open. A caller that loads several keys one after another, each opened and
// closed (a policy's public keys on a token without public key objects),
// would otherwise start afresh with every key: one login per key, and with
// a wrong PIN one failed attempt per key, enough to lock the token. Through
// a hold the first failure is returned for every later key of that token
// without another C_Login, as it is for keys that are open at the same
// time.
//
// A TokenHold is safe for concurrent use. Close it when the run is over:
// until then it keeps the PKCS#11 modules it touched loaded and their
// tokens logged in.
type TokenHold struct {
	mu     sync.Mutex
	held   map[any]func() // token → what lets go of it
	closed bool
}

// NewTokenHold returns an empty hold.
func NewTokenHold() *TokenHold { return &TokenHold{held: map[any]func(){}} }

// WithTokenHold makes Open, Generate, ImportCertificates and LoadPublicKey
// (when it opens the private key) keep the token they log in to open in h,
// and use what the token remembers.
func WithTokenHold(h *TokenHold) Option {
	return func(o *options) error {
		if h == nil {
			return errors.New("hsm.WithTokenHold(nil): need a hold")
		}
		o.hold = h
		return nil
	}
}

// keep records tok unless h already holds it or is closed; retain is called
// only when it is recorded and returns what Close calls to let go of it.
func (h *TokenHold) keep(tok any, retain func() (release func())) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.held[tok] != nil {
		return
	}
	h.held[tok] = retain()
}

// Close lets go of every token in the hold; the last user of a token logs
// out of it and the last user of a module unloads it. Keys opened through
// the hold stay usable until they are closed themselves. Later opens
// through a closed hold hold nothing.
func (h *TokenHold) Close() error {
	h.mu.Lock()
	held := h.held
	h.held, h.closed = nil, true
	h.mu.Unlock()
	for _, release := range held {
		release()
	}
	return nil
}
