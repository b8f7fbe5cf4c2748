package hsm

import (
	"errors"
	"fmt"
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
	Token string // token label
	Code  uint   // the CK_RV: CKR_PIN_INCORRECT, CKR_PIN_LOCKED, ...
}

// The CK_RV values of the PKCS#11 specification (v2.40, section 5.1) that
// PINError and messages name; spelt out here because this file also builds
// without cgo, where the pkcs11 package is unavailable.
const (
	ckrDeviceError          = 0x30
	ckrDeviceRemoved        = 0x32
	ckrPINIncorrect         = 0xA0
	ckrPINInvalid           = 0xA1
	ckrPINLenRange          = 0xA2
	ckrPINExpired           = 0xA3
	ckrPINLocked            = 0xA4
	ckrSessionClosed        = 0xB0
	ckrSessionHandleInvalid = 0xB3
	ckrTokenNotPresent      = 0xE0
	ckrUserNotLoggedIn      = 0x101
)

func (e *PINError) sentinel() error {
	switch e.Code {
	case ckrPINLocked:
		return ErrPINLocked
	case ckrPINExpired:
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

// Unwrap returns the PKCS#11 return value as an error (a pkcs11.Error in
// builds with cgo).
func (e *PINError) Unwrap() error { return ckrError(e.Code) }

// isPINCode reports whether a PKCS#11 return value is about the PIN itself,
// which must stop every retry at once.
func isPINCode(rv uint) bool {
	switch rv {
	case ckrPINIncorrect, ckrPINInvalid, ckrPINLenRange, ckrPINLocked, ckrPINExpired:
		return true
	}
	return false
}

// pkcs11Name is the CKR_ name of a return value, for messages.
func pkcs11Name(rv uint) string {
	names := map[uint]string{
		ckrPINIncorrect:         "CKR_PIN_INCORRECT",
		ckrPINInvalid:           "CKR_PIN_INVALID",
		ckrPINLenRange:          "CKR_PIN_LEN_RANGE",
		ckrPINLocked:            "CKR_PIN_LOCKED",
		ckrPINExpired:           "CKR_PIN_EXPIRED",
		ckrSessionHandleInvalid: "CKR_SESSION_HANDLE_INVALID",
		ckrSessionClosed:        "CKR_SESSION_CLOSED",
		ckrUserNotLoggedIn:      "CKR_USER_NOT_LOGGED_IN",
		ckrDeviceError:          "CKR_DEVICE_ERROR",
		ckrDeviceRemoved:        "CKR_DEVICE_REMOVED",
		ckrTokenNotPresent:      "CKR_TOKEN_NOT_PRESENT",
	}
	if n, ok := names[rv]; ok {
		return n
	}
	return fmt.Sprintf("CKR 0x%X", rv)
}
