//go:build cgo

package hsm

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
)

// sessionPool is a fixed set of sessions handed out through a channel. The
// sessions are opened once, at Open: SoftHSM 2.6.1 crashes when sessions are
// opened and closed under load (SoftHSMv2#688), and network HSMs dislike
// bursts of session setup. A zero handle in the channel is a hole left by
// a replacement that could not open a new session; the next taker tries
// again, so the pool never shrinks.
type sessionPool struct {
	ctx    *pkcs11.Ctx
	slot   uint
	free   chan pkcs11.SessionHandle
	size   int
	closed chan struct{}

	inUse, waiting                             atomic.Int64
	waits, replaced, relogins, refinds, signed atomic.Int64
	held                                       atomic.Int64 // time.Duration
}

func newSessionPool(ctx *pkcs11.Ctx, slot uint, n int) (*sessionPool, error) {
	p := &sessionPool{ctx: ctx, slot: slot, free: make(chan pkcs11.SessionHandle, n), size: n, closed: make(chan struct{})}
	for i := 0; i < n; i++ {
		sh, err := p.open()
		if err != nil {
			for len(p.free) > 0 {
				_ = ctx.CloseSession(<-p.free)
			}
			return nil, err
		}
		p.free <- sh
	}
	return p, nil
}

// open opens a read-only session: signing needs no R/W session, and R/O
// sessions do not count against a token's (often small) R/W limit.
func (p *sessionPool) open() (pkcs11.SessionHandle, error) {
	return p.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION)
}

// acquire takes a free session, waiting for one while ctx allows.
func (p *sessionPool) acquire(ctx context.Context) (pkcs11.SessionHandle, error) {
	var sh pkcs11.SessionHandle
	select {
	case <-p.closed:
		return 0, ErrClosed
	case sh = <-p.free:
	default:
		p.waits.Add(1)
		p.waiting.Add(1)
		defer p.waiting.Add(-1)
		select {
		case sh = <-p.free:
		case <-p.closed:
			return 0, ErrClosed
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	p.inUse.Add(1)
	if sh == 0 {
		var err error
		if sh, err = p.open(); err != nil {
			p.release(0)
			return 0, err
		}
	}
	return sh, nil
}

func (p *sessionPool) release(sh pkcs11.SessionHandle) {
	p.inUse.Add(-1)
	p.free <- sh
	if p.waiting.Load() > 0 {
		// The send made a waiter runnable on this processor, after
		// us; yield so that it starts signing now rather than when
		// our goroutine next blocks, leaving the session idle.
		runtime.Gosched()
	}
}

// replace swaps a failed session for a new one; when opening fails the
// caller puts a hole (0) back instead. It closes the old one only when the
// module still knows it: after CKR_SESSION_HANDLE_INVALID the handle number
// may already belong to a session another goroutine just opened, and
// closing it would break that one.
func (p *sessionPool) replace(old pkcs11.SessionHandle, stillOpen bool) (pkcs11.SessionHandle, error) {
	p.replaced.Add(1)
	if stillOpen {
		_ = p.ctx.CloseSession(old)
	}
	return p.open()
}

// closeAll waits for every session to come back and closes them. Callers
// waiting in acquire get ErrClosed.
func (p *sessionPool) closeAll() {
	close(p.closed)
	for i := 0; i < p.size; i++ {
		if sh := <-p.free; sh != 0 {
			_ = p.ctx.CloseSession(sh)
		}
	}
}

func (p *sessionPool) stats() PoolStats {
	return PoolStats{
		Sessions:   p.size,
		InUse:      int(p.inUse.Load()),
		Waits:      p.waits.Load(),
		Replaced:   p.replaced.Load(),
		Relogins:   p.relogins.Load(),
		Refinds:    p.refinds.Load(),
		Signatures: p.signed.Load(),
		Held:       time.Duration(p.held.Load()),
	}
}
