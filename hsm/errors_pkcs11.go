//go:build cgo

package hsm

import (
	"errors"

	"github.com/miekg/pkcs11"
)

// ckrError is the error a PINError unwraps to: the pkcs11 package's own
// type, so errors.As(err, &pkcs11.Error) works for callers.
func ckrError(rv uint) error { return pkcs11.Error(rv) }

// ckr extracts the PKCS#11 return value from err.
func ckr(err error) (pkcs11.Error, bool) {
	var rv pkcs11.Error
	if errors.As(err, &rv) {
		return rv, true
	}
	return 0, false
}
