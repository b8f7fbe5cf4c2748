// Package certs owns the X.509 side of signing: certificate signing requests
// made with any crypto.Signer (an HSM key included), throwaway certificate
// authorities and code-signing leaves for tests and demos, reading PEM chains
// and putting them in leaf-to-root order, and the chain rules the Notary
// Project applies when signing and verifying (notation-format.md §7).
//
// Trust decisions (which roots, which identities) are not made here; they
// belong to signature.Trust implementations. This package only answers
// "is this a well-formed code-signing chain" and "make me one".
//
// Imports: the standard library only.
package certs
