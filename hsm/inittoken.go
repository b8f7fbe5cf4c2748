//go:build cgo

package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// InitToken initialises a fresh token labelled label in the first slot whose
// token is not initialised yet (SoftHSM always offers one), with the given
// security-officer and user PINs. It exists for throwaway tokens (signet
// demo, CI set-up) so that no PIN has to go on a command line, as
// softhsm2-util would require.
func InitToken(ctx context.Context, modulePath, label string, soPIN, userPIN []byte) error {
	unlock, err := lockSetup(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := openModule(modulePath)
	if err != nil {
		return err
	}
	defer m.release()

	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("listing slots of PKCS#11 module %s: %w", modulePath, err)
	}
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			continue
		}
		if err := m.ctx.InitToken(s, string(soPIN), label); err != nil {
			return fmt.Errorf("initialising token %q in slot %d: %w", label, s, err)
		}
		sh, err := m.ctx.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return fmt.Errorf("opening a session on new token %q: %w", label, err)
		}
		defer m.ctx.CloseSession(sh)
		if err := m.ctx.Login(sh, pkcs11.CKU_SO, string(soPIN)); err != nil {
			return fmt.Errorf("logging in as security officer on new token %q: %w", label, err)
		}
		defer m.ctx.Logout(sh)
		if err := m.ctx.InitPIN(sh, string(userPIN)); err != nil {
			return fmt.Errorf("setting the user PIN of new token %q: %w", label, err)
		}
		return nil
	}
	return errors.New("no free slot to initialise a token in: the module offers no uninitialised token")
}
