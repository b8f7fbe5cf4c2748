// Package hsm owns signing keys: keys held in a PKCS#11 token, reached through
// a fixed pool of pre-opened sessions shared by every goroutine of the process,
// and file keys (PKCS#8 PEM, plain or encrypted, and cosign's encrypted
// cosign.key). A token key never leaves the token: only digests go in and
// signatures come out.
//
// Keys are named by a key reference (KEYREF): an RFC 7512 "pkcs11:" URI, or a
// file path. PINs and passwords come from the URI's pin-source/pin-value, from
// the environment, or from a file; they never appear in errors, logs or the
// String form of a URI.
//
// Environment: SIGNET_PKCS11_MODULE (module when the URI has no
// module-path), SIGNET_PKCS11_PIN (PIN when the URI has neither pin-value
// nor pin-source), SIGNET_KEY_PASSWORD then COSIGN_PASSWORD (key file
// password; set but empty means the empty password, as with cosign).
//
// Per module, the library is initialised once and finalised when its last
// key closes; per token, one long-lived session holds the login, which is
// made once and never retried after a PIN error (a wrong PIN counts towards
// locking the token). A file key's certificate chain lives beside it in
// "<key path>.chain.pem", leaf first; a token key's chain is the
// CKO_CERTIFICATE objects sharing its CKA_ID.
//
// Imports: the standard library, github.com/miekg/pkcs11, golang.org/x/crypto
// and hsm/pemkey only. Nothing here knows about registries or signature
// formats.
package hsm
