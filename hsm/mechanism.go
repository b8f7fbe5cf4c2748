//go:build cgo

package hsm

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// digestInfoPrefix is the DER of DigestInfo{AlgorithmIdentifier{oid, NULL},
// OCTET STRING} up to the digest itself (RFC 8017, section 9.2, note 1).
// CKM_RSA_PKCS signs its input as is, so the caller prepends it.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// pssHash maps a hash to the CKM_ and CKG_MGF1_ values of
// CK_RSA_PKCS_PSS_PARAMS; SoftHSM rejects an MGF that does not match the
// hash, and so does signet.
var pssHash = map[crypto.Hash][2]uint{
	crypto.SHA224: {pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// rsaMechanism returns the PKCS#11 mechanism and the bytes to give C_Sign
// for an RSA signature over digest.
func rsaMechanism(digest []byte, opts crypto.SignerOpts) (*pkcs11.Mechanism, []byte, error) {
	if opts == nil {
		return nil, nil, errors.New("RSA signing needs SignerOpts naming the hash")
	}
	h := opts.HashFunc()
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		p, ok := pssHash[h]
		if !ok {
			return nil, nil, fmt.Errorf("RSA-PSS with hash %v is not supported (use SHA-256, SHA-384 or SHA-512)", h)
		}
		salt, err := pssSaltLength(pss, h)
		if err != nil {
			return nil, nil, err
		}
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(p[0], p[1], uint(salt))), digest, nil
	}
	if h == 0 {
		// As rsa.SignPKCS1v15 with hash 0: the caller supplies the
		// DigestInfo (or whatever the protocol signs) itself.
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), digest, nil
	}
	prefix, ok := digestInfoPrefix[h]
	if !ok {
		return nil, nil, fmt.Errorf("RSA PKCS#1 v1.5 with hash %v is not supported (use SHA-256, SHA-384 or SHA-512)", h)
	}
	in := make([]byte, 0, len(prefix)+len(digest))
	in = append(append(in, prefix...), digest...)
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), in, nil
}

// ecdsaRawToDER converts a PKCS#11 ECDSA signature, r and s as two
// big-endian halves of equal length (PKCS#11 v2.40, section 2.3.1), into
// the ASN.1 DER SEQUENCE{INTEGER r, INTEGER s} that crypto.Signer, X.509
// and cosign use.
func ecdsaRawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("ECDSA signature from the token is %d bytes; want two equal halves r||s", len(raw))
	}
	// Encoded by hand rather than through encoding/asn1 and math/big: this
	// runs once per signature, and the reflective path cost more CPU than
	// everything else around a C_Sign on the Go side.
	r, s := trimZeros(raw[:len(raw)/2]), trimZeros(raw[len(raw)/2:])
	if len(r) == 0 || len(s) == 0 {
		return nil, errors.New("ECDSA signature from the token has a zero r or s")
	}
	inner := derIntLen(r) + derIntLen(s)
	out := make([]byte, 0, derHeaderLen(inner)+inner)
	out = appendDERHeader(out, 0x30, inner)
	out = appendDERInt(out, r)
	return appendDERInt(out, s), nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derIntLen is the encoded size of the INTEGER holding the unsigned value
// v (no leading zeros): a set high bit needs a 0x00 in front so the value
// stays positive.
func derIntLen(v []byte) int {
	n := len(v) + int(v[0]>>7)
	return derHeaderLen(n) + n
}

func appendDERInt(out, v []byte) []byte {
	pad := int(v[0] >> 7)
	out = appendDERHeader(out, 0x02, pad+len(v))
	if pad == 1 {
		out = append(out, 0)
	}
	return append(out, v...)
}

// derHeaderLen and appendDERHeader write a tag and a definite length;
// the long forms are for P-521, whose sequence exceeds 127 bytes.
func derHeaderLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n < 0x100:
		return 3
	default:
		return 4
	}
}

func appendDERHeader(out []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(out, tag, byte(n))
	case n < 0x100:
		return append(out, tag, 0x81, byte(n))
	default:
		return append(out, tag, 0x82, byte(n>>8), byte(n))
	}
}
