package pemkey_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/signet-project/signet/hsm/pemkey"
)

func TestPublic(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix1, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pemkey test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := x509.MarshalPKCS8PrivateKey(ec)

	tests := []struct {
		name    string
		block   pem.Block
		wantOK  bool
		wantKey any
		wantErr string
	}{
		{"PKIX", pem.Block{Type: "PUBLIC KEY", Bytes: pkix1}, true, &ec.PublicKey, ""},
		{"PKCS#1", pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)}, true, &rk.PublicKey, ""},
		{"certificate", pem.Block{Type: "CERTIFICATE", Bytes: cert}, true, &ec.PublicKey, ""},
		{"private key", pem.Block{Type: "PRIVATE KEY", Bytes: priv}, false, nil, ""},
		{"bad PKIX", pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")}, true, nil, "decoding PUBLIC KEY"},
		{"bad certificate", pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}, true, nil, "decoding CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, ok, err := pemkey.Public(&tt.block)
			if ok != tt.wantOK {
				t.Errorf("Public() ok = %v; want %v", ok, tt.wantOK)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Public() = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Public() = %v", err)
			}
			type equaler interface{ Equal(x crypto.PublicKey) bool }
			if tt.wantKey == nil {
				if pub != nil {
					t.Errorf("Public() = %T; want no key", pub)
				}
			} else if e, _ := pub.(equaler); e == nil || !e.Equal(tt.wantKey) {
				t.Errorf("Public() = %T %v; want %v", pub, pub, tt.wantKey)
			}
		})
	}
}

func ExamplePublic() {
	data := []byte(`-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkyXHEwFqP9vy9Wwrtq9B3TmxgMR1
empYUnLe67SRdz0o9XTyNbXo+M8ed+6Nwc8kWBFPTErxwc3LY6GipVFHNg==
-----END PUBLIC KEY-----
`)
	block, _ := pem.Decode(data)
	pub, ok, err := pemkey.Public(block)
	if err != nil {
		panic(err)
	}
	fmt.Println(ok, pub.(*ecdsa.PublicKey).Curve.Params().Name)
	// Output: true P-256
}
