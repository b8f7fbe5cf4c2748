package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// passwords sets SIGNET_KEY_PASSWORD and COSIGN_PASSWORD for the test; nil
// leaves a variable unset.
func passwords(t *testing.T, signet, cosign *string) {
	t.Helper()
	for name, v := range map[string]*string{"SIGNET_KEY_PASSWORD": signet, "COSIGN_PASSWORD": cosign} {
		t.Setenv(name, "")
		if v == nil {
			os.Unsetenv(name)
		} else {
			os.Setenv(name, *v)
		}
	}
}

func strp(s string) *string { return &s }

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openFileKey(t *testing.T, ref string, opts ...Option) *FileKey {
	t.Helper()
	k, err := Open(context.Background(), ref, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", ref, err)
	}
	fk, ok := k.(*FileKey)
	if !ok {
		t.Fatalf("Open(%s) = %T; want *FileKey", ref, k)
	}
	return fk
}

func TestFileKeyPlainFormats(t *testing.T) {
	passwords(t, nil, nil)
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	p8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)
	for _, tc := range []struct {
		name, typ string
		der       []byte
		pub       crypto.PublicKey
		opts      crypto.SignerOpts
		hash      crypto.Hash
	}{
		{"pkcs8 p256", "PRIVATE KEY", p8(ec), &ec.PublicKey, crypto.SHA256, crypto.SHA256},
		{"pkcs8 p384", "PRIVATE KEY", p8(ec384), &ec384.PublicKey, crypto.SHA384, crypto.SHA384},
		{"sec1", "EC PRIVATE KEY", sec1, &ec.PublicKey, crypto.SHA256, crypto.SHA256},
		{"pkcs1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk), &rk.PublicKey, crypto.SHA256, crypto.SHA256},
		{"pkcs8 rsa pss", "PRIVATE KEY", p8(rk), &rk.PublicKey, &rsa.PSSOptions{Hash: crypto.SHA256}, crypto.SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writePEM(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".pem", tc.typ, tc.der)
			for _, ref := range []string{path, "file:" + path, "file://" + path} {
				k := openFileKey(t, ref)
				if !samePublicKey(k.Public(), tc.pub) {
					t.Fatalf("Open(%s).Public() differs from the key written", ref)
				}
				if k.Ref() != "file:"+path {
					t.Errorf("Ref() = %q; want %q", k.Ref(), "file:"+path)
				}
				signVerify(t, k, tc.hash, tc.opts)
			}
		})
	}

	t.Run("relative path", func(t *testing.T) {
		path := writePEM(t, dir, "rel.pem", "PRIVATE KEY", p8(ec))
		t.Chdir(dir)
		k := openFileKey(t, "rel.pem")
		if k.Ref() != "file:"+path {
			t.Errorf("Ref() = %q; want the absolute path %q", k.Ref(), "file:"+path)
		}
	})

	t.Run("printing hides the key", func(t *testing.T) {
		path := writePEM(t, dir, "print.pem", "PRIVATE KEY", p8(ec))
		k := openFileKey(t, path)
		raw, err := ec.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		d := new(big.Int).SetBytes(raw).String()
		for _, s := range []string{fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
			if strings.Contains(s, d) || strings.Contains(s, fmt.Sprintf("%x", raw)) {
				t.Errorf("printed key shows the private scalar: %s", s)
			}
		}
	})

	for _, tc := range []struct {
		name, content, want string
	}{
		{"not PEM", "hello", "no PEM data found"},
		{"no key block", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), "no private key PEM block"},
		{"bad pkcs8", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})), "parsing PRIVATE KEY"},
		{"legacy encryption", "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00000000000000000000000000000000\n\nAAAA\n-----END EC PRIVATE KEY-----\n", "openssl pkcs8 -topk8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.pem")
			os.WriteFile(p, []byte(tc.content), 0o600)
			_, err := Open(context.Background(), p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("Open(%s) = %v; want an error naming the file and %q", tc.name, err, tc.want)
			}
		})
	}
	t.Run("ed25519", func(t *testing.T) {
		cmdKey := filepath.Join(dir, "ed.pem")
		// An Ed25519 PKCS#8 key (RFC 8410 example).
		os.WriteFile(cmdKey, []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"), 0o600)
		if _, err := Open(context.Background(), cmdKey); err == nil || !strings.Contains(err.Error(), "Ed25519 keys are not supported") {
			t.Errorf("Open(ed25519) = %v; want unsupported", err)
		}
	})
	if _, err := Open(context.Background(), filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v; want fs.ErrNotExist", err)
	}
}

func TestOpenSSLEncryptedPKCS8(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl", "apt-get install openssl")
	dir := t.TempDir()
	const pw = "correct horse battery staple"
	run := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", args[0], err, out)
		}
	}
	pwEnv := []string{"PW=" + pw}
	run(nil, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", filepath.Join(dir, "ec.pem"))
	run(nil, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", filepath.Join(dir, "rsa.pem"))
	run(pwEnv, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "env:PW", "-out", filepath.Join(dir, "genpkey.pem"))
	run(pwEnv, "pkey", "-in", filepath.Join(dir, "genpkey.pem"), "-passin", "env:PW", "-pubout", "-out", filepath.Join(dir, "genpkey.pub"))
	for _, tc := range []struct{ in, out, cipher, prf string }{
		{"ec.pem", "ec-aes128-sha1.pem", "aes128", "hmacWithSHA1"},
		{"ec.pem", "ec-aes192-sha256.pem", "aes192", "hmacWithSHA256"},
		{"rsa.pem", "rsa-aes256-sha512.pem", "aes256", "hmacWithSHA512"},
		{"rsa.pem", "rsa-aes128-sha1.pem", "aes128", "hmacWithSHA1"},
	} {
		run(pwEnv, "pkcs8", "-topk8", "-v2", tc.cipher, "-v2prf", tc.prf, "-in", filepath.Join(dir, tc.in), "-out", filepath.Join(dir, tc.out), "-passout", "env:PW")
	}
	plain := func(name string) crypto.PublicKey {
		passwords(t, nil, nil)
		return openFileKey(t, filepath.Join(dir, name)).Public()
	}
	ecPub, rsaPub := plain("ec.pem"), plain("rsa.pem")
	genPub, err := LoadPublicKey(context.Background(), filepath.Join(dir, "genpkey.pub"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		file string
		pub  crypto.PublicKey
	}{
		{"genpkey.pem", genPub},
		{"ec-aes128-sha1.pem", ecPub},
		{"ec-aes192-sha256.pem", ecPub},
		{"rsa-aes256-sha512.pem", rsaPub},
		{"rsa-aes128-sha1.pem", rsaPub},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			passwords(t, strp(pw), nil)
			k := openFileKey(t, path)
			if !samePublicKey(k.Public(), tc.pub) {
				t.Fatal("decrypted key differs from openssl's")
			}
			signVerify(t, k, crypto.SHA256, crypto.SHA256)

			// COSIGN_PASSWORD is the fallback; SIGNET_KEY_PASSWORD wins.
			passwords(t, nil, strp(pw))
			openFileKey(t, path)
			passwords(t, strp(pw), strp("wrong"))
			openFileKey(t, path)
			// WithPassword wins over both.
			passwords(t, strp("wrong"), strp("wrong"))
			openFileKey(t, path, WithPassword(func() ([]byte, error) { return []byte(pw), nil }))

			passwords(t, strp("Wr0ng-Passw0rd"), nil)
			_, err := Open(context.Background(), path)
			if !errors.Is(err, ErrWrongPassword) || strings.Contains(err.Error(), "Wr0ng-Passw0rd") || !strings.Contains(err.Error(), path) {
				t.Errorf("Open with a wrong password = %v; want ErrWrongPassword naming the file, not the password", err)
			}
			passwords(t, nil, nil)
			_, err = Open(context.Background(), path)
			if err == nil || !strings.Contains(err.Error(), "the key is encrypted: set SIGNET_KEY_PASSWORD") {
				t.Errorf("Open without a password = %v; want advice", err)
			}
		})
	}
}

// cosignVector builds an encrypted cosign key from the documented format
// alone (JSON with base64 fields, scrypt, nacl/secretbox over PKCS#8),
// without signet's encryptCosign.
func cosignVector(t *testing.T, pemType string, priv crypto.PrivateKey, password string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	var nonce [24]byte
	rand.Read(nonce[:])
	key, err := scrypt.Key([]byte(password), salt, 32768, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	var k [32]byte
	copy(k[:], key)
	body, _ := json.Marshal(map[string]any{
		"kdf": map[string]any{
			"name":   "scrypt",
			"params": map[string]int{"N": 32768, "r": 8, "p": 1},
			"salt":   base64.StdEncoding.EncodeToString(salt),
		},
		"cipher":     map[string]any{"name": "nacl/secretbox", "nonce": base64.StdEncoding.EncodeToString(nonce[:])},
		"ciphertext": base64.StdEncoding.EncodeToString(secretbox.Seal(nil, der, &nonce, &k)),
	})
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: body})
}

func TestCosignKey(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name, pemType, password string
	}{
		{"sigstore", "ENCRYPTED SIGSTORE PRIVATE KEY", "hunter2"},
		{"cosign v1", "ENCRYPTED COSIGN PRIVATE KEY", "hunter2"},
		{"empty password", "ENCRYPTED SIGSTORE PRIVATE KEY", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".key")
			os.WriteFile(path, cosignVector(t, tc.pemType, ec, tc.password), 0o600)
			passwords(t, nil, strp(tc.password))
			k := openFileKey(t, path)
			if !samePublicKey(k.Public(), &ec.PublicKey) {
				t.Fatal("decrypted key differs")
			}
			signVerify(t, k, crypto.SHA256, crypto.SHA256)
			passwords(t, nil, strp(tc.password+"x"))
			if _, err := Open(context.Background(), path); !errors.Is(err, ErrWrongPassword) {
				t.Errorf("Open with a wrong password = %v; want ErrWrongPassword", err)
			}
		})
	}

	t.Run("hostile parameters", func(t *testing.T) {
		for _, body := range []string{
			`{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAA"}`,
			`{"kdf":{"name":"argon2","params":{"N":16,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAA"}`,
			`{"kdf":{"name":"scrypt","params":{"N":16,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"aes","nonce":"AAAA"},"ciphertext":"AAAA"}`,
		} {
			path := filepath.Join(dir, "hostile.key")
			os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte(body)}), 0o600)
			passwords(t, strp("x"), nil)
			_, err := Open(context.Background(), path)
			if err == nil || errors.Is(err, ErrWrongPassword) {
				t.Errorf("Open(%s) = %v; want a format error", body, err)
			}
		}
	})

	t.Run("real cosign", func(t *testing.T) {
		cosign := testenv.Tool(t, "cosign-v2") // outside CI the vectors above cover the format
		cdir := t.TempDir()
		passwords(t, nil, strp("cosign-pw"))
		cmd := exec.Command(cosign, "generate-key-pair")
		cmd.Dir = cdir
		cmd.Env = os.Environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
		}
		k := openFileKey(t, filepath.Join(cdir, "cosign.key"))
		pub, err := LoadPublicKey(context.Background(), filepath.Join(cdir, "cosign.pub"))
		if err != nil || !samePublicKey(k.Public(), pub) {
			t.Fatalf("cosign.key and cosign.pub disagree (%v)", err)
		}
		signVerify(t, k, crypto.SHA256, crypto.SHA256)

		// And cosign reads a key signet generated.
		sk, err := Generate(context.Background(), filepath.Join(cdir, "signet.key"), "")
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(cosign, "public-key", "--key", filepath.Join(cdir, "signet.key"))
		cmd.Env = os.Environ()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cosign public-key --key signet.key: %v", err)
		}
		want, _ := MarshalPublicKeyPEM(sk.Public())
		if !bytes.Equal(bytes.TrimSpace(out), bytes.TrimSpace(want)) {
			t.Errorf("cosign public-key = %s; want %s", out, want)
		}
	})
}

func TestGenerateFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		alg      string
		password *string
		wantPEM  string
		wantAlg  string
	}{
		{"", nil, "PRIVATE KEY", "ecdsa-p256"},
		{"ecdsa-p384", strp("pw"), "ENCRYPTED SIGSTORE PRIVATE KEY", "ecdsa-p384"},
		{"rsa-2048", nil, "PRIVATE KEY", "rsa-2048"},
		{"rsa-3072", strp(""), "ENCRYPTED SIGSTORE PRIVATE KEY", "rsa-3072"},
	} {
		name := fmt.Sprintf("%s-encrypted=%v", tc.wantAlg, tc.password != nil)
		t.Run(name, func(t *testing.T) {
			passwords(t, tc.password, nil)
			path := filepath.Join(dir, name+".key")
			k, err := Generate(context.Background(), path, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			if got := algorithmName(k.Public()); got != tc.wantAlg {
				t.Errorf("algorithm = %s; want %s", got, tc.wantAlg)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode = %v, %v; want 0600", st.Mode(), err)
			}
			data, _ := os.ReadFile(path)
			if b, _ := pem.Decode(data); b == nil || b.Type != tc.wantPEM {
				t.Fatalf("key file PEM type = %v; want %s", b, tc.wantPEM)
			}
			pub, err := LoadPublicKey(context.Background(), path+".pub")
			if err != nil || !samePublicKey(pub, k.Public()) {
				t.Fatalf("%s.pub does not hold the public key (%v)", path, err)
			}
			k2 := openFileKey(t, path)
			if !samePublicKey(k2.Public(), k.Public()) {
				t.Fatal("reopened key differs")
			}
			signVerify(t, k2, crypto.SHA256, crypto.SHA256)
			if _, err := Generate(context.Background(), path, tc.alg); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Errorf("Generate over an existing key = %v; want already exists", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Error("existing key file changed")
			}
		})
	}

	t.Run("openssl reads the plain key", func(t *testing.T) {
		openssl := testenv.LookPath(t, "openssl", "apt-get install openssl")
		passwords(t, nil, nil)
		path := filepath.Join(dir, "for-openssl.key")
		k, err := Generate(context.Background(), path, "ecdsa-p256")
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "pkey", "-in", path, "-pubout").Output()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := MarshalPublicKeyPEM(k.Public())
		if !bytes.Equal(out, want) {
			t.Errorf("openssl pkey -pubout = %s; want %s", out, want)
		}
	})
}

func TestFileCertificates(t *testing.T) {
	passwords(t, nil, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "k.key")
	k, err := Generate(context.Background(), path, "")
	if err != nil {
		t.Fatal(err)
	}
	if c := k.Certificates(); c != nil {
		t.Fatalf("Certificates() of a new key = %d; want none", len(c))
	}
	root, inter, interKey := testCA(t)
	leaf := leafFor(t, k.Public(), inter, interKey)
	if err := ImportCertificates(context.Background(), path, []*x509.Certificate{leaf, root, inter}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ChainSuffix); err != nil {
		t.Fatalf("chain file: %v", err)
	}
	got := openFileKey(t, path).Certificates()
	if len(got) != 3 || !got[0].Equal(leaf) || !got[1].Equal(inter) || !got[2].Equal(root) {
		t.Fatalf("Certificates() = %d certs, not leaf, intermediate, root", len(got))
	}
	other := leafFor(t, &interKey.PublicKey, inter, interKey)
	if err := ImportCertificates(context.Background(), path, []*x509.Certificate{other}); err == nil || !strings.Contains(err.Error(), "is not for this key") {
		t.Fatalf("ImportCertificates(foreign leaf) = %v; want a mismatch", err)
	}
	if err := ImportCertificates(context.Background(), path, nil); err == nil {
		t.Fatal("ImportCertificates(empty chain) succeeded")
	}
	// The certificate also serves as a public key reference.
	certFile := filepath.Join(dir, "leaf.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644)
	pub, err := LoadPublicKey(context.Background(), certFile)
	if err != nil || !samePublicKey(pub, k.Public()) {
		t.Fatalf("LoadPublicKey(certificate) = %v; want the leaf's key", err)
	}
	// So does the private key file itself.
	pub, err = LoadPublicKey(context.Background(), "file:"+path)
	if err != nil || !samePublicKey(pub, k.Public()) {
		t.Fatalf("LoadPublicKey(private key file) = %v; want its public key", err)
	}
}

func TestOrderChain(t *testing.T) {
	root, inter, interKey := testCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := leafFor(t, &key.PublicKey, inter, interKey)
	for _, in := range [][]*x509.Certificate{
		{root, inter, leaf}, {inter, leaf, root}, {leaf, root, inter},
	} {
		for _, pub := range []crypto.PublicKey{&key.PublicKey, nil} {
			got := orderChain(in, pub)
			if len(got) != 3 || got[0] != leaf || got[1] != inter || got[2] != root {
				t.Errorf("orderChain(%s, pub=%v) = %s; want leaf, intermediate, root", names(in), pub != nil, names(got))
			}
		}
	}
}

func names(cs []*x509.Certificate) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Subject.CommonName)
	}
	return strings.Join(s, ", ")
}
