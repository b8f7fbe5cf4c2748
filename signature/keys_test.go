package signature

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

func TestDERRawRoundTrip(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			k, err := ecdsa.GenerateKey(curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			size := CurveSize(&k.PublicKey)
			d := sha256.Sum256([]byte("m"))
			// Many signatures, so that r or s with leading zero bytes (and
			// DER integers with a 0x00 sign pad) are exercised.
			for i := 0; i < 200; i++ {
				der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
				if err != nil {
					t.Fatal(err)
				}
				raw, err := DERToRaw(der, size)
				if err != nil {
					t.Fatalf("DERToRaw() = %v", err)
				}
				if len(raw) != 2*size {
					t.Fatalf("len(DERToRaw()) = %d; want %d", len(raw), 2*size)
				}
				if err := VerifyDigest(&k.PublicKey, crypto.SHA256, d[:], raw); err != nil {
					t.Fatalf("VerifyDigest(raw) = %v", err)
				}
			}
		})
	}
}

func TestDERToRawRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":    nil,
		"garbage":  {1, 2, 3},
		"trailing": append(mustDER(t), 0),
	} {
		if _, err := DERToRaw(in, 32); err == nil {
			t.Errorf("DERToRaw(%s) = nil error", name)
		}
	}
}

func mustDER(t *testing.T) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256(nil)
	der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignVerifyMessage(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		key  crypto.Signer
		opts crypto.SignerOpts
	}{
		{"ecdsa", ec, crypto.SHA256},
		{"rsa pkcs1v15", rk, crypto.SHA256},
		{"rsa pss", rk, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := []byte("payload")
			sig, err := SignMessage(context.Background(), testenv.Key{Signer: tt.key}, tt.opts, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyMessage(tt.key.Public(), crypto.SHA256, msg, sig); err != nil {
				t.Errorf("VerifyMessage() = %v", err)
			}
			if err := VerifyMessage(tt.key.Public(), crypto.SHA256, []byte("other"), sig); !errors.Is(err, ErrMismatch) {
				t.Errorf("VerifyMessage(other message) = %v; want ErrMismatch", err)
			}
			if err := VerifyMessage(&other.PublicKey, crypto.SHA256, msg, sig); err == nil {
				t.Error("VerifyMessage(other key) = nil")
			}
		})
	}
}
