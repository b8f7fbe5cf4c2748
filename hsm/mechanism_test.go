//go:build cgo

package hsm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestECDSARawToDER(t *testing.T) {
	// Real signatures on every curve, re-encoded raw the way a token
	// returns them, must come back as the very DER Go produced: P-521's
	// sequence needs the long length form. Many per curve, so r or s with
	// a leading zero byte or a set high bit come up.
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		size := (curve.Params().BitSize + 7) / 8
		digest := sha256.Sum256([]byte("payload"))
		for i := 0; i < 100; i++ {
			der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			var rs struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(der, &rs); err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, 2*size)
			rs.R.FillBytes(raw[:size])
			rs.S.FillBytes(raw[size:])
			got, err := ecdsaRawToDER(raw)
			if err != nil {
				t.Fatalf("%s: ecdsaRawToDER: %v", curve.Params().Name, err)
			}
			if !bytes.Equal(got, der) {
				t.Fatalf("%s: ecdsaRawToDER(%x) = %x; want %x", curve.Params().Name, raw, got, der)
			}
		}
	}

	for _, tc := range []struct {
		name string
		raw  []byte
		want []byte
	}{
		// A high bit set needs a leading 0x00 to stay positive.
		{"high bit", append(bytes.Repeat([]byte{0x80}, 1), 0x01), []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01}},
		// Leading zeros are dropped: DER integers are minimal.
		{"leading zeros", []byte{0x00, 0x00, 0x05, 0x00, 0x00, 0x7f}, []byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x7f}},
		{"both", []byte{0x00, 0xff, 0x00, 0x01}, []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ecdsaRawToDER(tc.raw)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("ecdsaRawToDER(%x) = %x, %v; want %x", tc.raw, got, err, tc.want)
			}
		})
	}

	for _, raw := range [][]byte{nil, {1, 2, 3}, make([]byte, 64)} {
		if _, err := ecdsaRawToDER(raw); err == nil {
			t.Errorf("ecdsaRawToDER(%x) = nil error; want one", raw)
		}
	}
}

func TestDigestInfoPrefixes(t *testing.T) {
	oids := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA224: {2, 16, 840, 1, 101, 3, 4, 2, 4},
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for h, oid := range oids {
		t.Run(h.String(), func(t *testing.T) {
			d := h.New()
			d.Write([]byte("payload"))
			digest := d.Sum(nil)
			// DigestInfo built independently with encoding/asn1.
			want, err := asn1.Marshal(struct {
				Alg    pkix.AlgorithmIdentifier
				Digest []byte
			}{pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}, digest})
			if err != nil {
				t.Fatal(err)
			}
			got := append(append([]byte(nil), digestInfoPrefix[h]...), digest...)
			if !bytes.Equal(got, want) {
				t.Fatalf("prefix||digest = %x; want %x", got, want)
			}
			// Signing prefix||digest raw equals Go's PKCS#1 v1.5 with h.
			raw, err := rsa.SignPKCS1v15(nil, key, 0, got)
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, h, digest, raw); err != nil {
				t.Fatalf("raw signature over DigestInfo does not verify as %v: %v", h, err)
			}
		})
	}
}

func TestRSAMechanism(t *testing.T) {
	digest := make([]byte, 32)
	for _, tc := range []struct {
		name     string
		opts     crypto.SignerOpts
		mech     uint
		inLen    int
		wantErr  bool
		wantSalt int
	}{
		{"pkcs1v15 sha256", crypto.SHA256, pkcs11.CKM_RSA_PKCS, 19 + 32, false, 0},
		{"pkcs1v15 prehashed", crypto.Hash(0), pkcs11.CKM_RSA_PKCS, 32, false, 0},
		{"pss auto", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}, pkcs11.CKM_RSA_PKCS_PSS, 32, false, 32},
		{"pss equals hash", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}, pkcs11.CKM_RSA_PKCS_PSS, 32, false, 32},
		{"pss 20", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 20}, pkcs11.CKM_RSA_PKCS_PSS, 32, false, 20},
		{"pss bad salt", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: -7}, 0, 0, true, 0},
		{"pss no hash", &rsa.PSSOptions{}, 0, 0, true, 0},
		{"sha1", crypto.SHA1, 0, 0, true, 0},
		{"nil", nil, 0, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, in, err := rsaMechanism(digest, tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("rsaMechanism = %v; want an error", m)
				}
				return
			}
			if err != nil || m.Mechanism != tc.mech || len(in) != tc.inLen {
				t.Fatalf("rsaMechanism = %v, %d bytes, %v; want mechanism %#x, %d bytes", m, len(in), err, tc.mech, tc.inLen)
			}
			if tc.wantSalt != 0 {
				want := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, uint(tc.wantSalt))
				if !bytes.Equal(m.Parameter, want) {
					t.Errorf("PSS params = %x; want %x", m.Parameter, want)
				}
			}
		})
	}
}

func TestCheckDigest(t *testing.T) {
	for _, tc := range []struct {
		n    int
		opts crypto.SignerOpts
		ok   bool
	}{
		{32, crypto.SHA256, true},
		{48, crypto.SHA384, true},
		{20, crypto.SHA256, false},
		{0, crypto.SHA256, false},
		{32, crypto.Hash(99), false},
		{17, crypto.Hash(0), true},
		{17, nil, true},
	} {
		if err := checkDigest(make([]byte, tc.n), tc.opts); (err == nil) != tc.ok {
			t.Errorf("checkDigest(%d bytes, %v) = %v; want ok=%v", tc.n, tc.opts, err, tc.ok)
		}
	}
}
