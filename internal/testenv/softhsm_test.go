package testenv

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestSoftHSM(t *testing.T) {
	tok := SoftHSM(t)
	tok.GenerateKey(t, "k1", "EC:prime256v1", "0a")
	tok.InitToken(t, "second")

	if got := os.Getenv("SOFTHSM2_CONF"); got != tok.Conf {
		t.Fatalf("SOFTHSM2_CONF = %q; want %q", got, tok.Conf)
	}
	pin, err := os.ReadFile(tok.PINFile)
	if err != nil || strings.TrimSpace(string(pin)) != tok.PIN {
		t.Fatalf("PIN file holds %q, %v; want the token PIN", pin, err)
	}
	uri := tok.URI("k1")
	if strings.Contains(uri, tok.PIN) || !strings.Contains(uri, "pin-source=file:"+tok.PINFile) || !strings.Contains(uri, "module-path="+tok.Module) {
		t.Errorf("URI(k1) = %q; want module-path and pin-source, and no PIN", uri)
	}

	// Check with the module itself that both tokens and the key are there.
	ctx := pkcs11.New(tok.Module)
	if ctx == nil {
		t.Fatalf("loading %s failed", tok.Module)
	}
	defer ctx.Destroy()
	if err := ctx.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer ctx.Finalize()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]uint{}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			labels[strings.TrimRight(ti.Label, " ")] = s
		}
	}
	slot, ok := labels[tok.Label]
	if _, ok2 := labels["second"]; !ok || !ok2 {
		t.Fatalf("tokens = %v; want %q and %q", labels, tok.Label, "second")
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, pkcs11.CKU_USER, tok.PIN); err != nil {
		t.Fatalf("login with the helper's PIN: %v", err)
	}
	if err := ctx.FindObjectsInit(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "k1"),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{0x0a}),
	}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := ctx.FindObjects(sh, 2)
	ctx.FindObjectsFinal(sh)
	if err != nil || len(hs) != 1 {
		t.Fatalf("private key k1 with id 0a: found %d, %v; want 1", len(hs), err)
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain-label_1.x", "plain-label_1.x"},
		{"/tmp/a b/pin", "/tmp/a%20b/pin"},
		{"a;b?c&d=e%", "a%3Bb%3Fc%26d%3De%25"},
	} {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
