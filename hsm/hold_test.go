//go:build cgo

package hsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestTokenHold loads the public keys of a token without public key objects
// one after another, as a policy's key loader does: each load opens the
// private key and closes it again. Through a hold the token logs in once,
// and a wrong PIN is tried once, for all of them.
func TestTokenHold(t *testing.T) {
	tok := softHSM(t)
	// RSA: a private key without its public key object still tells its
	// public key (modulus and exponent), an EC one does not.
	labels := []string{"a", "b"}
	for i, l := range labels {
		tok.GenerateKey(t, l, "rsa:2048", fmt.Sprintf("0%d", i+1))
		tok.DeletePublicKey(t, l)
	}
	wrongFile := filepath.Join(tok.Dir, "wrong.pin")
	if err := os.WriteFile(wrongFile, []byte("9999-wrong-PIN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := func(label, pinFile string) string {
		return fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s&pin-source=file:%s", tok.Label, label, tok.Module, pinFile)
	}

	tests := []struct {
		name    string
		pinFile string
		wantErr error
	}{
		{"wrong PIN", wrongFile, ErrPINIncorrect},
		{"right PIN", tok.PINFile, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewTokenHold()
			t.Cleanup(func() { h.Close() })
			before := loginCalls.Load()
			for _, l := range append(labels, labels[0]) {
				pub, err := LoadPublicKey(context.Background(), uri(l, tt.pinFile), WithTokenHold(h))
				if tt.wantErr == nil && (err != nil || pub == nil) {
					t.Fatalf("LoadPublicKey(%s) = %v, %v; want the key", l, pub, err)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("LoadPublicKey(%s) = %v; want %v", l, err, tt.wantErr)
				}
			}
			if n := loginCalls.Load() - before; n != 1 {
				t.Errorf("%d C_Login calls for %d keys of one token through a hold; want 1", n, len(labels)+1)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			modules.Lock()
			loaded := len(modules.byPath)
			modules.Unlock()
			if loaded != 0 {
				t.Errorf("%d modules still loaded after the hold was closed", loaded)
			}
			// A closed hold holds nothing: the next open starts afresh.
			before = loginCalls.Load()
			_, err := LoadPublicKey(context.Background(), uri("a", tok.PINFile), WithTokenHold(h))
			if err != nil || loginCalls.Load()-before != 1 {
				t.Errorf("after Close: LoadPublicKey with the right PIN = %v after %d logins; want the key after 1", err, loginCalls.Load()-before)
			}
		})
	}
}

func TestTokenHoldNil(t *testing.T) {
	if _, err := makeOptions([]Option{WithTokenHold(nil)}); err == nil {
		t.Error("WithTokenHold(nil) accepted")
	}
}
