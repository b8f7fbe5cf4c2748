package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"strings"
)

// Algorithms Generate accepts.
const (
	AlgECDSAP256 = "ecdsa-p256"
	AlgECDSAP384 = "ecdsa-p384"
	AlgRSA2048   = "rsa-2048"
	AlgRSA3072   = "rsa-3072"
	AlgRSA4096   = "rsa-4096"
)

type algSpec struct {
	name  string
	curve elliptic.Curve // nil for RSA
	bits  int
}

func parseAlg(alg string) (algSpec, error) {
	switch strings.ToLower(alg) {
	case "", AlgECDSAP256:
		return algSpec{AlgECDSAP256, elliptic.P256(), 256}, nil
	case AlgECDSAP384:
		return algSpec{AlgECDSAP384, elliptic.P384(), 384}, nil
	case AlgRSA2048:
		return algSpec{AlgRSA2048, nil, 2048}, nil
	case AlgRSA3072:
		return algSpec{AlgRSA3072, nil, 3072}, nil
	case AlgRSA4096:
		return algSpec{AlgRSA4096, nil, 4096}, nil
	}
	return algSpec{}, fmt.Errorf("unknown key algorithm %q (want %s, %s, %s, %s or %s)", alg, AlgECDSAP256, AlgECDSAP384, AlgRSA2048, AlgRSA3072, AlgRSA4096)
}

// Named-curve OIDs (RFC 5480, section 2.1.1.1), the DER of which is
// CKA_EC_PARAMS.
var curveOIDs = []struct {
	oid   asn1.ObjectIdentifier
	curve elliptic.Curve
}{
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256()},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384()},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521()},
}

func curveFromParams(params []byte) (elliptic.Curve, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(params, &oid)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("CKA_EC_PARAMS is not a named-curve OID")
	}
	for _, c := range curveOIDs {
		if c.oid.Equal(oid) {
			return c.curve, nil
		}
	}
	return nil, fmt.Errorf("unsupported curve %v (want P-256, P-384 or P-521)", oid)
}

func paramsForCurve(curve elliptic.Curve) ([]byte, error) {
	for _, c := range curveOIDs {
		if c.curve == curve {
			return asn1.Marshal(c.oid)
		}
	}
	return nil, fmt.Errorf("unsupported curve %s", curve.Params().Name)
}

// algorithmName names a public key's algorithm the way Generate spells it.
func algorithmName(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return curveAlgName(p.Curve)
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", p.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

func curveAlgName(c elliptic.Curve) string {
	return "ecdsa-p" + strings.TrimPrefix(c.Params().Name, "P-")
}

// samePublicKey reports whether a and b are the same key.
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
