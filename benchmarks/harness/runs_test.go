package main

import (
	"testing"
	"time"
)

func TestSessionPool(t *testing.T) {
	for _, tc := range []struct {
		name   string
		out    string
		waited int64
		held   time.Duration
		ok     bool
	}{
		{"signet's line among others",
			"progress 10/10\n" +
				`{"time":"2026-11-25T04:42:00Z","level":"INFO","msg":"HSM session pool","key":"pkcs11:token=t","sessions":2,"signatures":21,"waited":2,"held_per_signature":233000,"replaced":0,"relogins":0}` +
				"\n40 manifests (10 indexes): 40 signatures written\n",
			2, 233 * time.Microsecond, true},
		{"no pool line (a file key)", `{"level":"INFO","msg":"batch done"}` + "\n", 0, 0, false},
		{"a line that is not JSON", `HSM session pool "msg":"HSM session pool" waited=3` + "\n", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waited, held, ok := sessionPool(tc.out)
			if waited != tc.waited || held != tc.held || ok != tc.ok {
				t.Fatalf("sessionPool = %d, %s, %v; want %d, %s, %v", waited, held, ok, tc.waited, tc.held, tc.ok)
			}
		})
	}
}
