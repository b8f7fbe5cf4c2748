//go:build cgo

package hsm

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/signet-project/signet/internal/testenv"
)

// softHSM starts a SoftHSM token for the test and, once the test's keys
// are closed, checks that no module is left loaded: the next test's
// SOFTHSM2_CONF is only read by a fresh C_Initialize.
func softHSM(t *testing.T) *testenv.Token {
	t.Helper()
	tok := testenv.SoftHSM(t)
	t.Setenv("SIGNET_PKCS11_PIN", "")
	os.Unsetenv("SIGNET_PKCS11_PIN")
	t.Setenv("SIGNET_PKCS11_MODULE", "")
	os.Unsetenv("SIGNET_PKCS11_MODULE")
	t.Cleanup(func() {
		modules.Lock()
		defer modules.Unlock()
		for path, m := range modules.byPath {
			t.Errorf("module %s still loaded with %d references after the test", path, m.refs)
		}
	})
	return tok
}

// open opens ref and closes the key when the test ends.
func open(t *testing.T, ref string, opts ...Option) *PKCS11Key {
	t.Helper()
	k, err := Open(context.Background(), ref, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", ref, err)
	}
	t.Cleanup(func() { k.Close() })
	pk, ok := k.(*PKCS11Key)
	if !ok {
		t.Fatalf("Open(%s) = %T; want *PKCS11Key", ref, k)
	}
	return pk
}

func TestPKCS11SignVerify(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec256", "EC:prime256v1", "01")
	tok.GenerateKey(t, "ec384", "EC:secp384r1", "02")
	tok.GenerateKey(t, "rsa", "rsa:2048", "03")
	for _, tc := range []struct {
		name, key string
		alg       string
		hash      crypto.Hash
		opts      crypto.SignerOpts
	}{
		{"P-256 SHA-256", "ec256", "ecdsa-p256", crypto.SHA256, crypto.SHA256},
		{"P-384 SHA-384", "ec384", "ecdsa-p384", crypto.SHA384, crypto.SHA384},
		{"P-384 SHA-256", "ec384", "ecdsa-p384", crypto.SHA256, crypto.SHA256},
		{"RSA PKCS1v15 SHA-256", "rsa", "rsa-2048", crypto.SHA256, crypto.SHA256},
		{"RSA PKCS1v15 SHA-512", "rsa", "rsa-2048", crypto.SHA512, crypto.SHA512},
		{"RSA PSS auto", "rsa", "rsa-2048", crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}},
		{"RSA PSS SHA-384 equals hash", "rsa", "rsa-2048", crypto.SHA384, &rsa.PSSOptions{Hash: crypto.SHA384, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"RSA PSS SHA-512 salt 20", "rsa", "rsa-2048", crypto.SHA512, &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := open(t, tok.URI(tc.key), WithSessions(2))
			if got := algorithmName(k.Public()); got != tc.alg {
				t.Fatalf("algorithm = %s; want %s", got, tc.alg)
			}
			start := time.Now()
			for i := 0; i < 5; i++ {
				signVerify(t, k, tc.hash, tc.opts)
			}
			elapsed := time.Since(start)
			if st := k.Stats(); st.Sessions != 2 || st.Signatures != 5 || st.InUse != 0 {
				t.Errorf("Stats() = %+v; want 2 sessions, 5 signatures, none in use", st)
			}
			// One signature at a time: each hold lies within the loop,
			// so together they are some time, but no more than it took.
			if held := k.Stats().Held; held <= 0 || held > elapsed {
				t.Errorf("Stats().Held = %s; want more than 0, at most the %s the five signatures took", held, elapsed)
			}
		})
	}

	t.Run("crypto.Signer", func(t *testing.T) {
		// x509.CreateCertificate drives the key through crypto.Signer.
		k := open(t, tok.URI("ec256"))
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hsm"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			t.Fatalf("self-signed certificate does not verify: %v", err)
		}
	})

	t.Run("bad digest", func(t *testing.T) {
		k := open(t, tok.URI("ec256"))
		if _, err := k.SignDigest(context.Background(), make([]byte, 20), crypto.SHA256); err == nil || !strings.Contains(err.Error(), "digest is 20 bytes") {
			t.Fatalf("SignDigest(20 bytes, SHA256) error = %v; want a length error", err)
		}
	})

	t.Run("ref and printing", func(t *testing.T) {
		k := open(t, tok.URI("ec256"))
		want := "pkcs11:token=signet-test;object=ec256;id=%01?module-path=" + tok.Module
		if k.Ref() != want {
			t.Errorf("Ref() = %q; want %q", k.Ref(), want)
		}
		for _, s := range []string{fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), k.Ref()} {
			if strings.Contains(s, tok.PIN) || strings.Contains(s, "pin-source") {
				t.Errorf("printed key %q shows the PIN or its source", s)
			}
		}
		// The Ref opens the same key, given a PIN from elsewhere.
		t.Setenv("SIGNET_PKCS11_PIN", tok.PIN)
		k2 := open(t, k.Ref())
		if !samePublicKey(k2.Public(), k.Public()) {
			t.Error("Ref() opened a different key")
		}
	})
}

func TestPKCS11Concurrent(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	k := open(t, tok.URI("ec"), WithSessions(4))
	const workers, each = 64, 16
	// Hold every session until a worker has had to wait: with two cores
	// the workers could otherwise take turns and never contend.
	var held []pkcs11.SessionHandle
	for i := 0; i < 4; i++ {
		sh, err := k.pool.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, sh)
	}
	go func() {
		for i := 0; i < 500 && k.Stats().Waits == 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		for _, sh := range held {
			k.pool.release(sh)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := trySignVerify(k, crypto.SHA256, crypto.SHA256); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := k.Stats()
	if st.Sessions != 4 || st.Signatures != workers*each || st.InUse != 0 || st.Waits == 0 || st.Replaced != 0 {
		t.Errorf("Stats() = %+v; want 4 sessions, %d signatures, none in use, some waits, no replacements", st, workers*each)
	}
	t.Logf("stats: %+v", st)
}

func TestPKCS11WaitHonoursContext(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	k := open(t, tok.URI("ec"), WithSessions(1))
	// Hold the only session.
	sh, err := k.pool.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = k.SignDigest(ctx, make([]byte, 32), crypto.SHA256)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SignDigest with every session busy = %v; want context.DeadlineExceeded", err)
	}
	k.pool.release(sh)
	signVerify(t, k, crypto.SHA256, crypto.SHA256)

	// Close ends waiting callers with ErrClosed.
	sh, _ = k.pool.acquire(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := k.SignDigest(context.Background(), make([]byte, 32), crypto.SHA256)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	go func() { time.Sleep(20 * time.Millisecond); k.pool.release(sh) }()
	k.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("SignDigest during Close = %v; want ErrClosed", err)
	}
	if _, err := k.SignDigest(context.Background(), make([]byte, 32), crypto.SHA256); !errors.Is(err, ErrClosed) {
		t.Errorf("SignDigest after Close = %v; want ErrClosed", err)
	}
}

// tokenFlags reads the token's flags through the shared module.
func tokenFlags(t *testing.T, tok *testenv.Token) uint {
	t.Helper()
	m, err := openModule(tok.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	all, err := m.presentTokens()
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range all {
		if trimPad(ti.info.Label) == tok.Label {
			return ti.info.Flags
		}
	}
	t.Fatalf("token %q not found", tok.Label)
	return 0
}

func TestPKCS11WrongPIN(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	const wrong = "9999-wrong-PIN"
	wrongFile := filepath.Join(tok.Dir, "wrong.pin")
	if err := os.WriteFile(wrongFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("pkcs11:token=%s;object=ec?module-path=%s&pin-source=file:%s", tok.Label, tok.Module, wrongFile)

	for i := 0; i < 3; i++ {
		before := loginCalls.Load()
		_, err := Open(context.Background(), ref, WithSessions(8))
		if n := loginCalls.Load() - before; n != 1 {
			t.Fatalf("Open with a wrong PIN made %d login attempts; want exactly 1", n)
		}
		var pe *PINError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) {
			t.Fatalf("Open with a wrong PIN = %v; want a *PINError matching ErrPINIncorrect", err)
		}
		if pe.Token != tok.Label || uint(pe.Code) != pkcs11.CKR_PIN_INCORRECT {
			t.Errorf("PINError = %+v; want token %q, CKR_PIN_INCORRECT", pe, tok.Label)
		}
		msg := err.Error()
		if strings.Contains(msg, wrong) || !strings.Contains(msg, "not retried") || !strings.Contains(msg, tok.Label) {
			t.Errorf("error %q: want the token name and advice, never the PIN", msg)
		}
	}
	// WithPassword takes the same path.
	before := loginCalls.Load()
	calls := 0
	_, err := Open(context.Background(), tok.URI("ec"), WithPassword(func() ([]byte, error) { calls++; return []byte(wrong), nil }))
	if !errors.Is(err, ErrPINIncorrect) || calls != 1 || loginCalls.Load()-before != 1 {
		t.Fatalf("Open WithPassword(wrong) = %v after %d PIN reads and %d logins; want ErrPINIncorrect, 1, 1", err, calls, loginCalls.Load()-before)
	}

	flags := tokenFlags(t, tok)
	if flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
		t.Fatal("token locked after wrong PINs")
	}
	if flags&pkcs11.CKF_USER_PIN_COUNT_LOW == 0 {
		t.Error("CKF_USER_PIN_COUNT_LOW not set: did the wrong PIN reach the token?")
	}

	// The right PIN still works, with one login.
	before = loginCalls.Load()
	k := open(t, tok.URI("ec"))
	if n := loginCalls.Load() - before; n != 1 {
		t.Errorf("Open with the right PIN made %d logins; want 1", n)
	}
	signVerify(t, k, crypto.SHA256, crypto.SHA256)
	if tokenFlags(t, tok)&pkcs11.CKF_USER_PIN_COUNT_LOW != 0 {
		t.Error("CKF_USER_PIN_COUNT_LOW still set after a good login")
	}
	// A second key on the logged-in token does not log in again.
	before = loginCalls.Load()
	open(t, tok.URI("ec"))
	if n := loginCalls.Load() - before; n != 0 {
		t.Errorf("second Open on a logged-in token made %d logins; want 0", n)
	}
}

func TestPKCS11NoPIN(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	before := loginCalls.Load()
	_, err := Open(context.Background(), fmt.Sprintf("pkcs11:token=%s;object=ec?module-path=%s", tok.Label, tok.Module))
	if err == nil || !strings.Contains(err.Error(), "needs a PIN") || !strings.Contains(err.Error(), "SIGNET_PKCS11_PIN") {
		t.Fatalf("Open without a PIN = %v; want advice on setting one", err)
	}
	if loginCalls.Load() != before {
		t.Error("Open without a PIN attempted a login")
	}
	// SIGNET_PKCS11_PIN and SIGNET_PKCS11_MODULE are the fallbacks.
	t.Setenv("SIGNET_PKCS11_PIN", tok.PIN)
	t.Setenv("SIGNET_PKCS11_MODULE", tok.Module)
	k := open(t, "pkcs11:token="+tok.Label+";object=ec")
	signVerify(t, k, crypto.SHA256, crypto.SHA256)
}

func TestPKCS11SessionReplacement(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d sessions", n), func(t *testing.T) {
			k := open(t, tok.URI("ec"), WithSessions(n))
			c := k.tok.mod.ctx
			// Close every pool session behind the pool's back.
			var hs []pkcs11.SessionHandle
			for i := 0; i < n; i++ {
				hs = append(hs, <-k.pool.free)
			}
			for _, sh := range hs {
				if err := c.CloseSession(sh); err != nil {
					t.Fatal(err)
				}
				k.pool.free <- sh
			}
			for i := 0; i < 3*n; i++ {
				signVerify(t, k, crypto.SHA256, crypto.SHA256)
			}
			st := k.Stats()
			if st.Replaced != int64(n) || st.Sessions != n || st.Relogins != 0 {
				t.Errorf("Stats() = %+v; want %d replaced, %d sessions, no relogins", st, n, n)
			}
			// The anchor kept the login: the next Open needs none.
			before := loginCalls.Load()
			open(t, tok.URI("ec"), WithSessions(1))
			if loginCalls.Load() != before {
				t.Error("closing pool sessions logged the token out")
			}
		})
	}
}

func TestPKCS11Relogin(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	tok.GenerateKey(t, "rsa", "rsa:2048", "02")
	k := open(t, tok.URI("ec"), WithSessions(4))
	k2 := open(t, tok.URI("rsa"), WithSessions(2))
	// Log out behind the keys' backs.
	if err := k.tok.mod.ctx.Logout(k.tok.anchor); err != nil {
		t.Fatal(err)
	}
	before := loginCalls.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := trySignVerify(k, crypto.SHA256, crypto.SHA256); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Many goroutines hit CKR_USER_NOT_LOGGED_IN; one logged in again.
	if n := loginCalls.Load() - before; n != 1 {
		t.Errorf("re-login made %d C_Login calls; want 1", n)
	}
	// SoftHSM drops private-object handles on logout, so the first
	// failure is CKR_KEY_HANDLE_INVALID: log in again, then find the key
	// again, once for all goroutines.
	st := k.Stats()
	if st.Relogins != 1 || st.Refinds > 1 {
		t.Errorf("Stats() = %+v; want 1 relogin, at most 1 refind", st)
	}
	t.Logf("stats: %+v", st)
	// The other key on the token shares the login.
	signVerify(t, k2, crypto.SHA256, crypto.SHA256)
	if st := k2.Stats(); st.Relogins != 0 {
		t.Errorf("second key Relogins = %d; want 0", st.Relogins)
	}
}

func TestPKCS11OpenErrors(t *testing.T) {
	tok := softHSM(t)
	tok.InitToken(t, "other")
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	tok.GenerateKey(t, "twin", "EC:prime256v1", "02")
	tok.GenerateKey(t, "twin", "EC:prime256v1", "03")
	q := "?module-path=" + tok.Module + "&pin-source=file:" + tok.PINFile
	for _, tc := range []struct {
		name, ref string
		want      []string
	}{
		{"unknown token", "pkcs11:token=nope;object=ec" + q, []string{`no token labelled "nope"`, `tokens present: "other"`, `"signet-test"`}},
		{"any token, two present", "pkcs11:object=ec" + q, []string{"2 tokens match", "add token= or serial="}},
		{"unknown key", "pkcs11:token=signet-test;object=nope" + q, []string{`no private key with label "nope" on token "signet-test"`, tok.Module}},
		{"unknown id", "pkcs11:token=signet-test;id=%77" + q, []string{`no private key with id 77 on token "signet-test"`}},
		{"ambiguous key", "pkcs11:token=signet-test;object=twin" + q, []string{"ambiguous key", `label "twin"`, "add id="}},
		{"no key named", "pkcs11:token=signet-test" + q, []string{"names no key", "object="}},
		{"wrong type", "pkcs11:token=signet-test;object=ec;type=cert" + q, []string{"type=cert", "type=private"}},
		{"no module", "pkcs11:token=signet-test;object=ec", []string{"module path missing: set module-path= in the URI or SIGNET_PKCS11_MODULE"}},
		{"missing module", "pkcs11:token=signet-test;object=ec?module-path=/nonexistent/libnope.so", []string{"loading PKCS#11 module", "/nonexistent/libnope.so", "module-path="}},
		{"not a module", "pkcs11:token=signet-test;object=ec?module-path=" + tok.Conf, []string{"loading PKCS#11 module " + tok.Conf}},
		{"library mismatch", "pkcs11:token=signet-test;object=ec;library-manufacturer=Acme" + q, []string{"does not match library-manufacturer=Acme", "SoftHSM"}},
		{"malformed", "pkcs11:token=signet-test;objet=ec" + q, []string{`attribute "objet": unknown attribute`}},
		{"unsupported scheme", "awskms://alias/x", []string{`scheme "awskms" is not supported`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Open(context.Background(), tc.ref)
			if err == nil {
				k.Close()
				t.Fatalf("Open(%s) succeeded; want an error", tc.ref)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open error = %q; want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tok.PIN) || strings.Contains(err.Error(), tok.PINFile) {
				t.Errorf("Open error %q shows the PIN or its source", err)
			}
		})
	}
}

func TestPKCS11TokenSelection(t *testing.T) {
	tok := softHSM(t)
	tok.InitToken(t, "other")
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	tokens, err := List(context.Background(), tok.Module, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mine Token
	for _, tk := range tokens {
		if tk.Label == tok.Label {
			mine = tk
		}
	}
	if mine.Serial == "" {
		t.Fatalf("List = %+v; want token %q with a serial", tokens, tok.Label)
	}
	q := ";object=ec?module-path=" + tok.Module + "&pin-source=file:" + tok.PINFile
	for _, ref := range []string{
		"pkcs11:serial=" + mine.Serial + q,
		fmt.Sprintf("pkcs11:slot-id=%d", mine.Slot) + q,
		"pkcs11:token=" + tok.Label + ";manufacturer=SoftHSM%20project;model=SoftHSM%20v2" + q,
		"pkcs11:token=" + tok.Label + ";id=%01?module-path=" + tok.Module + "&pin-source=file:" + tok.PINFile,
	} {
		t.Run(ref, func(t *testing.T) {
			k := open(t, ref, WithSessions(1))
			signVerify(t, k, crypto.SHA256, crypto.SHA256)
		})
	}
}

func TestPKCS11ModuleRefcount(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "a", "EC:prime256v1", "01")
	k1, err := Open(context.Background(), tok.URI("a"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Open(context.Background(), tok.URI("a"))
	if err != nil {
		t.Fatal(err)
	}
	m := k1.(*PKCS11Key).tok.mod
	if m != k2.(*PKCS11Key).tok.mod || m.refs != 2 {
		t.Fatalf("two keys on one module: refs = %d, shared = %v; want 2, true", m.refs, m == k2.(*PKCS11Key).tok.mod)
	}
	k1.Close()
	k1.Close() // idempotent
	signVerify(t, k2, crypto.SHA256, crypto.SHA256)
	k2.Close()
	modules.Lock()
	n := len(modules.byPath)
	modules.Unlock()
	if n != 0 {
		t.Fatalf("%d modules loaded after the last key closed; want 0", n)
	}

	// A new SOFTHSM2_CONF is seen because the module was finalised.
	tok2 := testenv.SoftHSM(t)
	tok2.GenerateKey(t, "b", "EC:prime256v1", "02")
	k := open(t, tok2.URI("b"))
	signVerify(t, k, crypto.SHA256, crypto.SHA256)
	if _, err := Open(context.Background(), tok2.URI("a")); err == nil || !strings.Contains(err.Error(), `no private key with label "a"`) {
		t.Fatalf("Open(key of the old token) = %v; want not found", err)
	}
}

// readBool reads a boolean attribute of k's private key.
func readBool(t *testing.T, k *PKCS11Key, attr uint) bool {
	t.Helper()
	k.tok.mu.Lock()
	defer k.tok.mu.Unlock()
	a, err := k.tok.mod.ctx.GetAttributeValue(k.tok.anchor, pkcs11.ObjectHandle(k.priv.Load()), []*pkcs11.Attribute{pkcs11.NewAttribute(attr, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return attrBool(a[0].Value)
}

func TestPKCS11Generate(t *testing.T) {
	tok := softHSM(t)
	for _, tc := range []struct {
		alg, label string
		hash       crypto.Hash
		opts       crypto.SignerOpts
	}{
		{"", "gen-default", crypto.SHA256, crypto.SHA256},
		{"ecdsa-p384", "gen-p384", crypto.SHA384, crypto.SHA384},
		{"rsa-2048", "gen-rsa", crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256}},
	} {
		t.Run(tc.label, func(t *testing.T) {
			k, err := Generate(context.Background(), tok.URI(tc.label), tc.alg, WithSessions(2))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { k.Close() })
			pk := k.(*PKCS11Key)
			want := tc.alg
			if want == "" {
				want = AlgECDSAP256
			}
			if got := algorithmName(k.Public()); got != want {
				t.Errorf("algorithm = %s; want %s", got, want)
			}
			signVerify(t, k, tc.hash, tc.opts)
			for attr, want := range map[uint]bool{
				pkcs11.CKA_SENSITIVE:   true,
				pkcs11.CKA_EXTRACTABLE: false,
				pkcs11.CKA_TOKEN:       true,
				pkcs11.CKA_PRIVATE:     true,
				pkcs11.CKA_SIGN:        true,
			} {
				if got := readBool(t, pk, attr); got != want {
					t.Errorf("attribute %#x = %v; want %v", attr, got, want)
				}
			}
			if len(pk.id) != 8 || !strings.Contains(k.Ref(), ";id=%") {
				t.Errorf("id = %x, Ref = %s; want 8 random bytes, in the Ref", pk.id, k.Ref())
			}
			// Generating again under the same label is refused.
			if k2, err := Generate(context.Background(), tok.URI(tc.label), tc.alg); err == nil || !strings.Contains(err.Error(), "already exists") {
				if k2 != nil {
					k2.Close()
				}
				t.Fatalf("second Generate = %v; want already exists", err)
			}
			// The key persists in the token.
			k3 := open(t, tok.URI(tc.label), WithSessions(1))
			if !samePublicKey(k3.Public(), k.Public()) {
				t.Error("reopened key differs")
			}
		})
	}
	t.Run("explicit id taken", func(t *testing.T) {
		tok.GenerateKey(t, "pk", "EC:prime256v1", "aa")
		ref := "pkcs11:token=" + tok.Label + ";object=fresh;id=%aa?module-path=" + tok.Module + "&pin-source=file:" + tok.PINFile
		if k, err := Generate(context.Background(), ref, ""); err == nil || !strings.Contains(err.Error(), "already exists") {
			if k != nil {
				k.Close()
			}
			t.Fatalf("Generate with a used id = %v; want already exists", err)
		}
	})
	t.Run("bad alg", func(t *testing.T) {
		if _, err := Generate(context.Background(), tok.URI("x"), "dsa-1024"); err == nil || !strings.Contains(err.Error(), `unknown key algorithm "dsa-1024"`) {
			t.Fatalf("Generate(dsa-1024) = %v; want unknown algorithm", err)
		}
	})
}

func TestPKCS11List(t *testing.T) {
	tok := softHSM(t)
	tok.InitToken(t, "other")
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	tok.GenerateKey(t, "rsa", "rsa:2048", "02")

	tokens, err := List(context.Background(), tok.Module, nil)
	if err != nil {
		t.Fatal(err)
	}
	find := func(tokens []Token) Token {
		for _, tk := range tokens {
			if tk.Label == tok.Label {
				return tk
			}
		}
		t.Fatalf("List = %+v; no token %q", tokens, tok.Label)
		return Token{}
	}
	mine := find(tokens)
	if len(tokens) != 2 || mine.LoggedIn || mine.Manufacturer != "SoftHSM project" || mine.Model != "SoftHSM v2" {
		t.Errorf("List without PIN = %+v; want 2 tokens, not logged in", tokens)
	}
	if len(mine.Keys) != 2 || mine.Keys[0].Label != "ec" || mine.Keys[0].Algorithm != "ecdsa-p256" || !mine.Keys[0].Public || mine.Keys[0].Private ||
		mine.Keys[1].Label != "rsa" || mine.Keys[1].Algorithm != "rsa-2048" {
		t.Errorf("keys without PIN = %+v; want public ec (ecdsa-p256) and rsa (rsa-2048)", mine.Keys)
	}

	tokens, err = List(context.Background(), tok.Module, []byte(tok.PIN))
	if err != nil {
		t.Fatal(err)
	}
	mine = find(tokens)
	if !mine.LoggedIn || len(mine.Keys) != 2 || !mine.Keys[0].Private || !mine.Keys[0].Public || string(mine.Keys[0].ID) != "\x01" {
		t.Errorf("keys with PIN = %+v; want private and public halves, id 01", mine.Keys)
	}
	wantURI := "pkcs11:token=signet-test;serial=" + mine.Serial + ";object=ec;id=%01?module-path=" + tok.Module
	if mine.Keys[0].URI != wantURI {
		t.Errorf("URI = %q; want %q", mine.Keys[0].URI, wantURI)
	}
	if s := fmt.Sprintf("%+v %#v", tokens, tokens); strings.Contains(s, tok.PIN) || strings.Contains(s, "pin-") {
		t.Errorf("printed listing shows a PIN: %s", s)
	}
	// The listed URI opens the key.
	t.Setenv("SIGNET_PKCS11_PIN", tok.PIN)
	k := open(t, mine.Keys[0].URI, WithSessions(1))
	signVerify(t, k, crypto.SHA256, crypto.SHA256)

	// A wrong PIN stops at the first token, once.
	before := loginCalls.Load()
	_, err = List(context.Background(), tok.Module, []byte("0000-wrong"))
	if !errors.Is(err, ErrPINIncorrect) || loginCalls.Load()-before != 1 {
		t.Errorf("List with a wrong PIN = %v after %d logins; want ErrPINIncorrect after 1", err, loginCalls.Load()-before)
	}
}

func TestPKCS11Certificates(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	k := open(t, tok.URI("ec"), WithSessions(1))
	if c := k.Certificates(); c != nil {
		t.Fatalf("Certificates() before import = %d certs; want nil", len(c))
	}
	root, inter, interKey := testCA(t)
	leaf := leafFor(t, k.Public(), inter, interKey)
	// Stored out of order; read back leaf first.
	if err := ImportCertificates(context.Background(), tok.URI("ec"), []*x509.Certificate{leaf, root, inter}); err != nil {
		t.Fatal(err)
	}
	k2 := open(t, tok.URI("ec"), WithSessions(1))
	got := k2.Certificates()
	if len(got) != 3 || !got[0].Equal(leaf) || !got[1].Equal(inter) || !got[2].Equal(root) {
		var names []string
		for _, c := range got {
			names = append(names, c.Subject.CommonName)
		}
		t.Fatalf("Certificates() = %v; want leaf, intermediate, root", names)
	}
	// Importing again replaces the chain.
	if err := ImportCertificates(context.Background(), tok.URI("ec"), []*x509.Certificate{leaf}); err != nil {
		t.Fatal(err)
	}
	if got := open(t, tok.URI("ec"), WithSessions(1)).Certificates(); len(got) != 1 || !got[0].Equal(leaf) {
		t.Fatalf("after re-import: %d certificates; want the leaf only", len(got))
	}
	// A chain for another key is refused.
	other := leafFor(t, &interKey.PublicKey, inter, interKey)
	if err := ImportCertificates(context.Background(), tok.URI("ec"), []*x509.Certificate{other}); err == nil || !strings.Contains(err.Error(), "is not for this key") {
		t.Fatalf("ImportCertificates(foreign leaf) = %v; want a mismatch error", err)
	}
}

func TestPKCS11LoadPublicKey(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	k := open(t, tok.URI("ec"), WithSessions(1))
	before := loginCalls.Load()
	// No PIN: the public key object is readable without a login.
	pub, err := LoadPublicKey(context.Background(), fmt.Sprintf("pkcs11:token=%s;object=ec?module-path=%s", tok.Label, tok.Module))
	if err != nil {
		t.Fatal(err)
	}
	if !samePublicKey(pub, k.Public()) || loginCalls.Load() != before {
		t.Error("LoadPublicKey returned another key or logged in")
	}
	pemBytes, err := MarshalPublicKeyPEM(pub)
	if err != nil || !strings.HasPrefix(string(pemBytes), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("MarshalPublicKeyPEM = %q, %v", pemBytes, err)
	}
	file := filepath.Join(t.TempDir(), "k.pub")
	os.WriteFile(file, pemBytes, 0o644)
	pub2, err := LoadPublicKey(context.Background(), file)
	if err != nil || !samePublicKey(pub2, pub) {
		t.Fatalf("LoadPublicKey(PEM file) = %v; want the same key", err)
	}
}

// TestPKCS11SignBufferSizes signs into buffers shorter and longer than the
// signature: a short one must cost a second C_Sign on the still active
// operation (CKR_BUFFER_TOO_SMALL keeps it), not an error, and must leave
// the single session able to sign again.
func TestPKCS11SignBufferSizes(t *testing.T) {
	tok := softHSM(t)
	tok.GenerateKey(t, "ec", "EC:prime256v1", "01")
	tok.GenerateKey(t, "rsa", "rsa:2048", "02")
	for _, tc := range []struct {
		key  string
		want int // the raw signature's length
	}{
		{"ec", 64},
		{"rsa", 256},
	} {
		k := open(t, tok.URI(tc.key), WithSessions(1))
		if k.sigSize != tc.want {
			t.Fatalf("%s: sigSize = %d; want %d", tc.key, k.sigSize, tc.want)
		}
		for _, size := range []int{0, 1, tc.want - 1, tc.want, tc.want + 100} {
			k.sigSize = size
			if err := trySignVerify(k, crypto.SHA256, crypto.SHA256); err != nil {
				t.Errorf("%s with a %d-byte buffer: %v", tc.key, size, err)
			}
		}
		k.sigSize = tc.want
		if err := trySignVerify(k, crypto.SHA256, crypto.SHA256); err != nil {
			t.Errorf("%s: the session no longer signs after the short buffers: %v", tc.key, err)
		}
		if s := k.Stats(); s.Replaced != 0 {
			t.Errorf("%s: %d sessions replaced; a short buffer must not break the session", tc.key, s.Replaced)
		}
	}
}
