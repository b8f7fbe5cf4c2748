package hsm

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// cosign's encrypted private key (sigstore/sigstore pkg/cryptoutils, which
// uses secure-systems-lab/go-securesystemslib's "encrypted" package): a PEM
// block "ENCRYPTED SIGSTORE PRIVATE KEY" (older cosign: "ENCRYPTED COSIGN
// PRIVATE KEY") whose body is JSON; []byte fields are standard base64, as
// encoding/json writes them. The secretbox key is scrypt(password, salt, N,
// r, p, 32) and the plaintext is PKCS#8 DER.
const (
	pemCosignEncrypted   = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemCosignEncryptedV1 = "ENCRYPTED COSIGN PRIVATE KEY"
)

type cosignEnvelope struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// cosign writes N=2^16, r=8, p=1 (go-securesystemslib's "standard"
// strength) and refuses parameters other than its three presets when it
// reads, so signet writes the same. When reading it accepts anything up to
// these bounds, which keep a hostile file from taking gigabytes of memory.
const (
	cosignScryptN   = 1 << 16
	cosignScryptR   = 8
	cosignScryptP   = 1
	maxScryptN      = 1 << 20
	maxScryptR      = 32
	maxScryptP      = 16
	secretboxKeyLen = 32
	secretboxNonce  = 24
)

func decryptCosign(body, password []byte) ([]byte, error) {
	var env cosignEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decoding the encrypted key's JSON: %w", err)
	}
	if env.KDF.Name != "scrypt" {
		return nil, fmt.Errorf("key derivation %q is not supported; only scrypt", env.KDF.Name)
	}
	if env.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("cipher %q is not supported; only nacl/secretbox", env.Cipher.Name)
	}
	n, r, p := env.KDF.Params.N, env.KDF.Params.R, env.KDF.Params.P
	if n < 2 || n > maxScryptN || n&(n-1) != 0 || r < 1 || r > maxScryptR || p < 1 || p > maxScryptP {
		return nil, fmt.Errorf("scrypt parameters N=%d r=%d p=%d out of range (N a power of two up to %d, r up to %d, p up to %d)", n, r, p, maxScryptN, maxScryptR, maxScryptP)
	}
	if len(env.KDF.Salt) == 0 {
		return nil, errors.New("scrypt salt is empty")
	}
	if len(env.Cipher.Nonce) != secretboxNonce {
		return nil, fmt.Errorf("secretbox nonce is %d bytes, want %d", len(env.Cipher.Nonce), secretboxNonce)
	}
	key, err := scrypt.Key(password, env.KDF.Salt, n, r, p, secretboxKeyLen)
	if err != nil {
		return nil, fmt.Errorf("deriving the key: %w", err)
	}
	var k [secretboxKeyLen]byte
	var nonce [secretboxNonce]byte
	copy(k[:], key)
	copy(nonce[:], env.Cipher.Nonce)
	plain, ok := secretbox.Open(nil, env.Ciphertext, &nonce, &k)
	clear(k[:])
	if !ok {
		return nil, ErrWrongPassword
	}
	return plain, nil
}

// encryptCosign seals PKCS#8 DER the way cosign generate-key-pair does, so
// cosign can use keys signet generates.
func encryptCosign(pkcs8, password []byte) ([]byte, error) {
	var env cosignEnvelope
	env.KDF.Name = "scrypt"
	env.KDF.Params.N, env.KDF.Params.R, env.KDF.Params.P = cosignScryptN, cosignScryptR, cosignScryptP
	env.KDF.Salt = make([]byte, 32)
	env.Cipher.Name = "nacl/secretbox"
	env.Cipher.Nonce = make([]byte, secretboxNonce)
	if _, err := rand.Read(env.KDF.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(env.Cipher.Nonce); err != nil {
		return nil, err
	}
	key, err := scrypt.Key(password, env.KDF.Salt, cosignScryptN, cosignScryptR, cosignScryptP, secretboxKeyLen)
	if err != nil {
		return nil, err
	}
	var k [secretboxKeyLen]byte
	var nonce [secretboxNonce]byte
	copy(k[:], key)
	copy(nonce[:], env.Cipher.Nonce)
	env.Ciphertext = secretbox.Seal(nil, pkcs8, &nonce, &k)
	clear(k[:])
	return json.Marshal(&env)
}
