//go:build !cgo

package hsm

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
)

// errNoPKCS11 explains why a pkcs11: key cannot be used: PKCS#11 modules
// are C libraries loaded through cgo, and this binary was built without it
// (Go turns cgo off when it finds no C compiler). File keys still work.
var errNoPKCS11 = errors.New("this signet was built without cgo, so it cannot load PKCS#11 modules: " +
	"rebuild it with a C compiler installed (CGO_ENABLED=1), or use a key file")

func ckrError(rv uint) error { return fmt.Errorf("%s", pkcs11Name(rv)) }

func openPKCS11(context.Context, *URI, *options) (Key, error) { return nil, errNoPKCS11 }

func generatePKCS11(context.Context, *URI, algSpec, *options) (Key, error) { return nil, errNoPKCS11 }

func importPKCS11Certificates(context.Context, *URI, []*x509.Certificate, *options) error {
	return errNoPKCS11
}

func publicKeyObject(context.Context, *URI, *options) (crypto.PublicKey, error) {
	return nil, errNoPKCS11
}

// List lists a PKCS#11 module's tokens; without cgo there is no module to
// load.
func List(context.Context, string, []byte) ([]Token, error) { return nil, errNoPKCS11 }

// InitToken initialises a token; without cgo there is no module to load.
func InitToken(context.Context, string, string, []byte, []byte) error { return errNoPKCS11 }
