package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"
)

// signVerify signs a fresh digest with opts and checks the signature with
// Go's own verifiers.
func signVerify(t testing.TB, s Signer, h crypto.Hash, opts crypto.SignerOpts) {
	t.Helper()
	if err := trySignVerify(s, h, opts); err != nil {
		t.Fatal(err)
	}
}

// testCA makes a root and an intermediate certificate authority.
func testCA(t *testing.T) (root, inter *x509.Certificate, interKey *ecdsa.PrivateKey) {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signet test root"}, NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(der)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "signet test intermediate"}, NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err = x509.CreateCertificate(rand.Reader, interT, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ = x509.ParseCertificate(der)
	return root, inter, interKey
}

func leafFor(t *testing.T, pub crypto.PublicKey, inter *x509.Certificate, interKey crypto.Signer) *x509.Certificate {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "signet test leaf"}, NotBefore: now, NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, pub, interKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func trySignVerify(s Signer, h crypto.Hash, opts crypto.SignerOpts) error {
	msg := make([]byte, 64)
	rand.Read(msg)
	d := h.New()
	d.Write(msg)
	digest := d.Sum(nil)
	sig, err := s.SignDigest(context.Background(), digest, opts)
	if err != nil {
		return err
	}
	return verify(s.Public(), digest, sig, opts)
}

func verify(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, digest, sig) {
			return errors.New("ecdsa.VerifyASN1 rejected the signature")
		}
		return nil
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			salt := pss.SaltLength
			if salt == rsa.PSSSaltLengthAuto {
				salt = pss.Hash.Size() // signet's meaning of Auto
			}
			return rsa.VerifyPSS(p, pss.Hash, digest, sig, &rsa.PSSOptions{SaltLength: salt})
		}
		return rsa.VerifyPKCS1v15(p, opts.HashFunc(), digest, sig)
	}
	return fmt.Errorf("unexpected public key %T", pub)
}
