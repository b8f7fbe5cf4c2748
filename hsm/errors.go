package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Sentinels for errors.Is. A *PINError matches the PIN sentinel for its
// code; a wrong file-key password wraps ErrWrongPassword.
var (
	// ErrPINIncorrect: the token rejected the PIN (CKR_PIN_INCORRECT,
	// CKR_PIN_INVALID or CKR_PIN_LEN_RANGE).
	ErrPINIncorrect = errors.New("PIN incorrect")
	// ErrPINLocked: the token's user PIN is locked (CKR_PIN_LOCKED or the
	// CKF_USER_PIN_LOCKED token flag).
	ErrPINLocked = errors.New("PIN locked")
	// ErrPINExpired: the token wants the PIN changed first (CKR_PIN_EXPIRED).
	ErrPINExpired = errors.New("PIN expired")
	// ErrWrongPassword: an encrypted key file did not decrypt with the password.
	ErrWrongPassword = errors.New("wrong password")
	// ErrClosed: the key was used after Close.
	ErrClosed = errors.New("key closed")
)

// PINError reports a login the token refused because of the PIN. signet
// never retries such a login: each wrong attempt counts towards locking the
// token. The message names the token and what to do, never the PIN.
type PINError struct {
	Token string       // token label
	Code  pkcs11.Error // CKR_PIN_INCORRECT, CKR_PIN_LOCKED, ...
}

func (e *PINError) sentinel() error {
	switch uint(e.Code) {
	case pkcs11.CKR_PIN_LOCKED:
		return ErrPINLocked
	case pkcs11.CKR_PIN_EXPIRED:
		return ErrPINExpired
	default:
		return ErrPINIncorrect
	}
}

func (e *PINError) Error() string {
	var advice string
	switch e.sentinel() {
	case ErrPINLocked:
		advice = "the user PIN is locked; unlock or reset it with the SO PIN using the token vendor's tool"
	case ErrPINExpired:
		advice = "the PIN has expired; change it with the token vendor's tool"
	default:
		advice = "not retried, because repeated wrong PINs lock the token; check pin-source/pin-value in the key URI or SIGNET_PKCS11_PIN"
	}
	return fmt.Sprintf("logging in to token %q: %v (%s): %s", e.Token, e.sentinel(), pkcs11Name(e.Code), advice)
}

// Is makes errors.Is(err, ErrPINIncorrect) (and the other PIN sentinels) work.
func (e *PINError) Is(target error) bool { return target == e.sentinel() }

// Unwrap returns the PKCS#11 return value.
func (e *PINError) Unwrap() error { return e.Code }

// isPINCode reports whether a PKCS#11 return value is about the PIN itself,
// which must stop every retry at once.
func isPINCode(rv pkcs11.Error) bool {
	switch uint(rv) {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE,
		pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED:
		return true
	}
	return false
}

// pkcs11Name is the CKR_ name of a return value, for messages.
func pkcs11Name(rv pkcs11.Error) string {
	names := map[uint]string{
		pkcs11.CKR_PIN_INCORRECT:          "CKR_PIN_INCORRECT",
		pkcs11.CKR_PIN_INVALID:            "CKR_PIN_INVALID",
		pkcs11.CKR_PIN_LEN_RANGE:          "CKR_PIN_LEN_RANGE",
		pkcs11.CKR_PIN_LOCKED:             "CKR_PIN_LOCKED",
		pkcs11.CKR_PIN_EXPIRED:            "CKR_PIN_EXPIRED",
		pkcs11.CKR_SESSION_HANDLE_INVALID: "CKR_SESSION_HANDLE_INVALID",
		pkcs11.CKR_SESSION_CLOSED:         "CKR_SESSION_CLOSED",
		pkcs11.CKR_USER_NOT_LOGGED_IN:     "CKR_USER_NOT_LOGGED_IN",
		pkcs11.CKR_DEVICE_ERROR:           "CKR_DEVICE_ERROR",
		pkcs11.CKR_DEVICE_REMOVED:         "CKR_DEVICE_REMOVED",
		pkcs11.CKR_TOKEN_NOT_PRESENT:      "CKR_TOKEN_NOT_PRESENT",
	}
	if n, ok := names[uint(rv)]; ok {
		return n
	}
	return fmt.Sprintf("CKR 0x%X", uint(rv))
}

// ckr extracts the PKCS#11 return value from err.
func ckr(err error) (pkcs11.Error, bool) {
	var rv pkcs11.Error
	if errors.As(err, &rv) {
		return rv, true
	}
	return 0, false
}
