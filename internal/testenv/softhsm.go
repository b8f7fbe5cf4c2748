package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SoftHSM module locations: Debian's symlink, then the multiarch path.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

const installSoftHSM = "apt-get install softhsm2 opensc"

// Token is an initialised SoftHSM2 token in a temporary directory.
type Token struct {
	Module  string // path of libsofthsm2.so
	Label   string
	PIN     string // user PIN
	SOPIN   string
	Dir     string // holds softhsm2.conf, tokens/ and the PIN file
	Conf    string // the softhsm2.conf SOFTHSM2_CONF points at
	PINFile string // contains PIN, for pin-source=file:
}

// SoftHSMModule returns the SoftHSM2 module path or ends the test through
// Missing.
func SoftHSMModule(t testing.TB) string {
	t.Helper()
	for _, p := range softHSMModules {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Missing(t, "libsofthsm2.so", installSoftHSM)
	return ""
}

// SoftHSM creates a token directory and configuration of the test's own,
// points SOFTHSM2_CONF at it (t.Setenv, so the test may not be parallel)
// and initialises a token labelled "signet-test". Everything is removed
// when the test ends. Keys opened on the token must be closed before then,
// so the module is finalised and the next test's configuration is read.
func SoftHSM(t testing.TB) *Token {
	t.Helper()
	LookPath(t, "softhsm2-util", installSoftHSM)
	mod := SoftHSMModule(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", filepath.Join(dir, "tokens"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := &Token{Module: mod, Label: "signet-test", PIN: "1234-user", SOPIN: "5678-so", Dir: dir, Conf: conf, PINFile: filepath.Join(dir, "user.pin")}
	if err := os.WriteFile(tok.PINFile, []byte(tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok.InitToken(t, tok.Label)
	return tok
}

// InitToken initialises one more token with the same PINs in the same
// directory, e.g. to test token selection. The module sees it only if it
// is (re)initialised afterwards.
func (tok *Token) InitToken(t testing.TB, label string) {
	t.Helper()
	// softhsm2-util reads PINs from the terminal only, so they go on the
	// command line; they are throwaway test PINs.
	run(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--pin", tok.PIN, "--so-pin", tok.SOPIN)
}

// GenerateKey makes a key pair on the token with pkcs11-tool, an
// implementation independent of signet's. keyType is pkcs11-tool's
// spelling: "EC:prime256v1", "EC:secp384r1", "rsa:2048". id is hex
// ("01"); empty means no CKA_ID.
func (tok *Token) GenerateKey(t testing.TB, label, keyType, id string) {
	t.Helper()
	tok.GenerateKeyOn(t, tok.Label, label, keyType, id)
}

// GenerateKeyOn is GenerateKey on another token of the same directory.
func (tok *Token) GenerateKeyOn(t testing.TB, tokenLabel, label, keyType, id string) {
	t.Helper()
	LookPath(t, "pkcs11-tool", installSoftHSM)
	// pkcs11-tool reads a PIN only from the terminal or --pin; the PIN
	// is a throwaway test PIN.
	args := []string{"--module", tok.Module, "--token-label", tokenLabel, "--login", "--pin", tok.PIN,
		"--keypairgen", "--key-type", keyType, "--label", label, "--usage-sign"}
	if id != "" {
		args = append(args, "--id", id)
	}
	run(t, "pkcs11-tool", args...)
}

// DeletePublicKey removes the public key object labelled label, leaving
// the private key alone on the token as an imported one often is: reading
// its public half then needs a login.
func (tok *Token) DeletePublicKey(t testing.TB, label string) {
	t.Helper()
	LookPath(t, "pkcs11-tool", installSoftHSM)
	run(t, "pkcs11-tool", "--module", tok.Module, "--token-label", tok.Label, "--login", "--pin", tok.PIN,
		"--delete-object", "--type", "pubkey", "--label", label)
}

// spyModules are the locations of OpenSC's pkcs11-spy.
var spyModules = []string{
	"/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
	"/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11-spy.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so",
	"/usr/local/lib/pkcs11-spy.so",
}

// Spy puts OpenSC's pkcs11-spy in front of the token's module (through
// t.Setenv, so the test may not be parallel). Use module instead of
// tok.Module; calls counts the calls of a PKCS#11 function ("C_Login") made
// through it so far. It counts what the token sees, whatever state the
// process under test keeps: a C_Login with a wrong PIN is what locks a
// token.
func (tok *Token) Spy(t testing.TB) (module string, calls func(name string) int) {
	t.Helper()
	for _, p := range spyModules {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		Missing(t, "pkcs11-spy.so", installSoftHSM)
	}
	log := filepath.Join(tok.Dir, "pkcs11-spy.log")
	t.Setenv("PKCS11SPY", tok.Module)
	t.Setenv("PKCS11SPY_OUTPUT", log)
	return module, func(name string) int {
		data, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		// Each call starts with a line "<n>: <function>".
		n := 0
		for _, l := range strings.Split(string(data), "\n") {
			if _, fn, ok := strings.Cut(l, ": "); ok && fn == name {
				n++
			}
		}
		return n
	}
}

// URI returns a pkcs11 URI for the key labelled label on the token, with
// module-path and pin-source=file: (never the PIN itself).
func (tok *Token) URI(label string) string {
	return fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s&pin-source=file:%s",
		escape(tok.Label), escape(label), escape(tok.Module), escape(tok.PINFile))
}

// escape percent-encodes what may not appear literally in a pkcs11 URI
// value (RFC 7512): everything but unreserved characters and "/".
func escape(s string) string {
	var sb strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

func run(t testing.TB, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, args[0], err, out)
	}
}
