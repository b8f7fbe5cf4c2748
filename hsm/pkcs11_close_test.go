//go:build cgo

package hsm

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/signet-project/signet/internal/testenv"
)

// keepModule opens a key on a second token of tok's module, so that the
// module stays loaded after the test's own key closes. Without it the
// final C_Finalize would end any login left behind, hiding a leak.
func keepModule(t *testing.T, tok *testenv.Token) {
	t.Helper()
	tok.InitToken(t, "other")
	tok.GenerateKeyOn(t, "other", "keep", "EC:prime256v1", "0f")
	open(t, "pkcs11:token=other;object=keep?module-path="+tok.Module+"&pin-source=file:"+tok.PINFile, WithSessions(1))
}

// loggedIn reports whether the process is logged in to tok's token, as a
// session of List's own sees it.
func loggedIn(t *testing.T, tok *testenv.Token) bool {
	t.Helper()
	tokens, err := List(context.Background(), tok.Module, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tokens {
		if tk.Label == tok.Label {
			return tk.LoggedIn
		}
	}
	t.Fatalf("List: no token %q", tok.Label)
	return false
}

// logOutBehindKey logs the process out of k's token, as an HSM restart or
// another session's C_Logout would, and forgets the PIN kept for
// re-logins, so that the re-login calls k.getPIN: the tests hook it to act
// in the middle of the recovery.
func logOutBehindKey(t *testing.T, k *PKCS11Key) {
	t.Helper()
	k.tok.mu.Lock()
	defer k.tok.mu.Unlock()
	if err := k.tok.mod.ctx.Logout(k.tok.anchor); err != nil {
		t.Fatal(err)
	}
	clear(*k.tok.pin)
	k.tok.pin = nil
}

// TestPKCS11CloseDuringRelogin: a signature failing because the token
// logged the process out keeps its session through the re-login and the
// key lookup, so Close waits for the recovery instead of finalising the
// module under it; once Close has begun the recovery stops with ErrClosed
// and leaves no login behind.
func TestPKCS11CloseDuringRelogin(t *testing.T) {
	for _, tc := range []struct {
		name string
		// closeAt is when Close begins: "" never (during the test),
		// "login" while the re-login reads the PIN, "before" after the
		// signature failed and before the recovery starts.
		closeAt string
	}{
		{"no Close", ""},
		{"Close during the re-login", "login"},
		{"Close before the recovery", "before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := softHSM(t)
			tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
			keepModule(t, tok)
			k := open(t, tok.URI("ec"), WithSessions(1))
			logOutBehindKey(t, k)

			closeDone := make(chan struct{})
			startClose := func() {
				go func() {
					k.Close()
					close(closeDone)
				}()
				// Close closes the pool's channel first, then waits for
				// the sessions.
				<-k.pool.closed
			}
			hookCalls := 0
			var inUse int64
			k.getPIN = func() ([]byte, error) {
				hookCalls++
				inUse = k.pool.inUse.Load()
				if tc.closeAt == "login" {
					startClose()
				}
				return []byte(tok.PIN), nil
			}
			logins := loginCalls.Load()

			var err error
			switch tc.closeAt {
			case "before":
				// What sign does after C_Sign failed, with Close begun
				// in between: it still holds its session.
				sh, aerr := k.pool.acquire(context.Background())
				if aerr != nil {
					t.Fatal(aerr)
				}
				startClose()
				cause := pkcs11.Error(pkcs11.CKR_KEY_HANDLE_INVALID)
				err = k.relogin(cause, pkcs11.ObjectHandle(k.priv.Load()), true)
				k.pool.release(sh)
				if !errors.Is(err, pkcs11.Error(pkcs11.CKR_KEY_HANDLE_INVALID)) {
					t.Errorf("relogin error = %v; want it to wrap the signature's CKR_KEY_HANDLE_INVALID", err)
				}
			default:
				_, err = k.SignDigest(context.Background(), make([]byte, 32), crypto.SHA256)
			}

			if tc.closeAt == "" {
				if err != nil {
					t.Fatalf("SignDigest after a logout: %v", err)
				}
				signVerify(t, k, crypto.SHA256, crypto.SHA256)
				if st := k.Stats(); st.Relogins != 1 || st.Refinds > 1 {
					t.Errorf("Stats() = %+v; want 1 relogin, at most 1 refind", st)
				}
				k.Close()
				close(closeDone)
			} else if !errors.Is(err, ErrClosed) {
				t.Errorf("signature recovering while the key closes = %v; want ErrClosed", err)
			}
			<-closeDone

			switch tc.closeAt {
			case "before":
				if hookCalls != 0 || loginCalls.Load() != logins {
					t.Errorf("recovery after Close began read the PIN %d times and made %d C_Login calls; want none", hookCalls, loginCalls.Load()-logins)
				}
			default:
				if hookCalls != 1 {
					t.Fatalf("the re-login read the PIN %d times; want 1", hookCalls)
				}
				// The signer's own session: Close cannot complete while it
				// is out of the pool.
				if inUse != 1 {
					t.Errorf("sessions in use during the re-login = %d; want 1 (the signer keeps its session until it is done)", inUse)
				}
			}
			if err != nil && strings.Contains(err.Error(), tok.PIN) {
				t.Errorf("error shows the PIN: %v", err)
			}
			if !k.tok.released {
				t.Error("the token is not released after its only key closed")
			}
			if loggedIn(t, tok) {
				t.Errorf("after its only key closed, the process is still logged in to token %q", tok.Label)
			}
		})
	}
}

// TestPKCS11TokenAfterRelease replays the step a signer takes next if it
// comes back to the token after Close finished, with the module unloaded
// (a call into it would crash the process) or kept loaded by a key on
// another token (a call would log in again on an anchor nobody closes). The
// token refuses with ErrClosed before calling the module.
func TestPKCS11TokenAfterRelease(t *testing.T) {
	for _, keep := range []bool{false, true} {
		for _, op := range []string{"login", "refind"} {
			name := op + ", module unloaded"
			if keep {
				name = op + ", module kept loaded"
			}
			t.Run(name, func(t *testing.T) {
				tok := softHSM(t)
				tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
				if keep {
					keepModule(t, tok)
				}
				k := open(t, tok.URI("ec"), WithSessions(1))
				logOutBehindKey(t, k)
				anchor := k.tok.anchor
				k.getPIN = func() ([]byte, error) {
					t.Error("getPIN called on a released token")
					return []byte(tok.PIN), nil
				}
				k.Close()
				logins := loginCalls.Load()

				var err error
				switch op {
				case "login":
					_, err = k.tok.login(k.getPIN)
				case "refind":
					_, err = k.refind(pkcs11.ObjectHandle(k.priv.Load()))
				}
				if !errors.Is(err, ErrClosed) {
					t.Errorf("%s on a released token = %v; want ErrClosed", op, err)
				}
				if n := loginCalls.Load() - logins; n != 0 {
					t.Errorf("%s on a released token made %d C_Login calls; want 0", op, n)
				}
				if k.tok.anchor != anchor {
					t.Errorf("%s on a released token opened anchor session %d", op, k.tok.anchor)
				}
				if keep && loggedIn(t, tok) {
					t.Errorf("after %s on the released token, the process is logged in to %q", op, tok.Label)
				}
			})
		}
	}
}
