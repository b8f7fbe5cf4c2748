//go:build cgo && !unix

package hsm

import "github.com/miekg/pkcs11"

// signCall is miekg/pkcs11's C_SignInit and C_Sign where the one-call
// path (signcall_unix.go) does not know the platform's struct packing.
type signCall struct{ ctx *pkcs11.Ctx }

func newSignCall(_ string, ctx *pkcs11.Ctx) (*signCall, error) { return &signCall{ctx: ctx}, nil }

func (s *signCall) close() {}

func (s *signCall) sign(sh pkcs11.SessionHandle, mech *pkcs11.Mechanism, key pkcs11.ObjectHandle, in []byte, _ int) ([]byte, error) {
	if err := s.ctx.SignInit(sh, []*pkcs11.Mechanism{mech}, key); err != nil {
		return nil, err
	}
	return s.ctx.Sign(sh, in)
}
