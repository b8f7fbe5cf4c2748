package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// FileKey is a private key read from a PEM file. Its certificate chain, if
// any, is the PEM file "<key path>.chain.pem" beside it, leaf first.
type FileKey struct {
	path  string // absolute
	priv  crypto.Signer
	certs []*x509.Certificate
}

var _ Key = (*FileKey)(nil)

// ChainSuffix is appended to a key file's path to name its certificate
// chain file (PEM, leaf first).
const ChainSuffix = ".chain.pem"

// Public returns the public key.
func (k *FileKey) Public() crypto.PublicKey { return k.priv.Public() }

// Ref returns "file:" and the key file's absolute path.
func (k *FileKey) Ref() string { return "file:" + k.path }

// String returns Ref.
func (k *FileKey) String() string { return k.Ref() }

// LogValue returns Ref for log/slog.
func (k *FileKey) LogValue() slog.Value { return slog.StringValue(k.Ref()) }

// GoString keeps %#v from printing the private key.
func (k *FileKey) GoString() string { return "hsm.FileKey(" + k.Ref() + ")" }

// Certificates returns the chain read from "<key path>.chain.pem" at Open.
func (k *FileKey) Certificates() []*x509.Certificate { return k.certs }

// Close does nothing; it exists for Key.
func (k *FileKey) Close() error { return nil }

// Sign implements crypto.Signer.
func (k *FileKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.SignDigest(context.Background(), digest, opts)
}

// SignDigest signs with Go's crypto packages, under the same rules as a
// token key: ECDSA in DER, RSA PKCS#1 v1.5 or PSS with Auto meaning the
// hash length.
func (k *FileKey) SignDigest(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkDigest(digest, opts); err != nil {
		return nil, fmt.Errorf("signing with %s: %w", k.Ref(), err)
	}
	var sig []byte
	var err error
	switch priv := k.priv.(type) {
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, priv, digest)
	case *rsa.PrivateKey:
		if opts == nil {
			return nil, fmt.Errorf("signing with %s: RSA signing needs SignerOpts naming the hash", k.Ref())
		}
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			salt, perr := pssSaltLength(pss, opts.HashFunc())
			if perr != nil {
				return nil, fmt.Errorf("signing with %s: %w", k.Ref(), perr)
			}
			sig, err = rsa.SignPSS(rand.Reader, priv, opts.HashFunc(), digest, &rsa.PSSOptions{SaltLength: salt, Hash: opts.HashFunc()})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, priv, opts.HashFunc(), digest)
		}
	default:
		err = fmt.Errorf("unsupported key type %T", priv)
	}
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", k.Ref(), err)
	}
	return sig, nil
}

// openFile reads a private key file: PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC
// PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY"), encrypted PKCS#8 ("ENCRYPTED
// PRIVATE KEY", PBES2) or cosign's encrypted key. Other PEM blocks in the
// file (a certificate, say) are skipped.
func openFile(path string, o *options) (*FileKey, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening key file %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("opening key file: %w", err)
	}
	priv, err := parsePrivateKeyPEM(data, o)
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", abs, err)
	}
	k := &FileKey{path: abs, priv: priv}
	certs, err := readChainFile(abs + ChainSuffix)
	if err != nil {
		return nil, err
	}
	k.certs = orderChain(certs, k.Public())
	return k, nil
}

func parsePrivateKeyPEM(data []byte, o *options) (crypto.Signer, error) {
	rest := data
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		var der []byte
		switch block.Type {
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			if _, ok := block.Headers["Proc-Type"]; ok {
				return nil, fmt.Errorf("legacy PEM encryption (Proc-Type header) is not supported; convert the key with: openssl pkcs8 -topk8 -v2 aes256")
			}
			return parsePlainKey(block.Type, block.Bytes)
		case "ENCRYPTED PRIVATE KEY", pemCosignEncrypted, pemCosignEncryptedV1:
			pw, ok, err := o.filePassword()
			if err != nil {
				return nil, fmt.Errorf("reading the key password: %w", err)
			}
			if !ok {
				return nil, errors.New("the key is encrypted: set SIGNET_KEY_PASSWORD (or COSIGN_PASSWORD) to its password")
			}
			if block.Type == "ENCRYPTED PRIVATE KEY" {
				der, err = decryptPKCS8(block.Bytes, pw)
			} else {
				der, err = decryptCosign(block.Bytes, pw)
			}
			if errors.Is(err, ErrWrongPassword) {
				return nil, fmt.Errorf("decrypting the key: %w (check SIGNET_KEY_PASSWORD or COSIGN_PASSWORD)", err)
			}
			if err != nil {
				return nil, fmt.Errorf("decrypting the key: %w", err)
			}
			return parsePlainKey("PRIVATE KEY", der)
		}
	}
	if !sawPEM {
		return nil, errors.New("no PEM data found; want a PEM private key (PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC/RSA PRIVATE KEY or cosign's ENCRYPTED SIGSTORE PRIVATE KEY)")
	}
	return nil, errors.New("no private key PEM block found (PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC/RSA PRIVATE KEY or ENCRYPTED SIGSTORE PRIVATE KEY)")
}

func parsePlainKey(pemType string, der []byte) (crypto.Signer, error) {
	var key any
	var err error
	switch pemType {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	default:
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", pemType, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return nil, errors.New("Ed25519 keys are not supported: signet signs digests, and Ed25519 signs whole messages")
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}

// readChainFile reads PEM certificates; a missing file is no chain.
func readChainFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading certificate chain: %w", err)
	}
	certs, err := parseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("reading certificate chain %s: %w", path, err)
	}
	return certs, nil
}

func parseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d: %w", len(certs), err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// generateFile writes a new key to path (mode 0600) and its public key to
// path+".pub". With a password (WithPassword, SIGNET_KEY_PASSWORD or
// COSIGN_PASSWORD, even empty, as cosign does) the key is written in
// cosign's encrypted format, so that cosign can sign with it too; without
// one it is plain PKCS#8. Existing files are never overwritten.
func generateFile(path string, alg algSpec, o *options) (*FileKey, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("generating key file %s: %w", path, err)
	}
	for _, p := range []string{abs, abs + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("generating key file %s: %s already exists; signet does not overwrite keys", abs, p)
		}
	}
	var priv crypto.Signer
	if alg.curve != nil {
		priv, err = ecdsa.GenerateKey(alg.curve, rand.Reader)
	} else {
		priv, err = rsa.GenerateKey(rand.Reader, alg.bits)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg.name, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding %s key: %w", alg.name, err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	pw, ok, err := o.filePassword()
	if err != nil {
		return nil, fmt.Errorf("reading the key password: %w", err)
	}
	if ok {
		body, err := encryptCosign(der, pw)
		if err != nil {
			return nil, fmt.Errorf("encrypting key %s: %w", abs, err)
		}
		block = &pem.Block{Type: pemCosignEncrypted, Bytes: body}
	}
	pubPEM, err := MarshalPublicKeyPEM(priv.Public())
	if err != nil {
		return nil, err
	}
	if err := writeNew(abs, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("writing key file: %w", err)
	}
	clear(der)
	if err := writeNew(abs+".pub", pubPEM, 0o644); err != nil {
		_ = os.Remove(abs)
		return nil, fmt.Errorf("writing public key file: %w", err)
	}
	return &FileKey{path: abs, priv: priv}, nil
}

// writeNew creates path exclusively, so a concurrent writer or an existing
// file is never clobbered.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// importFileCertificates writes chain to "<key>.chain.pem", replacing an
// older chain, after checking chain[0] against the key.
func importFileCertificates(path string, chain []*x509.Certificate, o *options) error {
	k, err := openFile(path, o)
	if err != nil {
		return err
	}
	if !samePublicKey(chain[0].PublicKey, k.Public()) {
		return fmt.Errorf("storing certificates for %s: the first certificate (subject %q) is not for this key", k.Ref(), chain[0].Subject)
	}
	var buf bytes.Buffer
	for _, c := range chain {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return err
		}
	}
	// Write beside and rename, so a reader never sees half a chain.
	tmp, err := os.CreateTemp(filepath.Dir(k.path), filepath.Base(k.path)+".chain-*")
	if err != nil {
		return fmt.Errorf("storing certificates for %s: %w", k.Ref(), err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("storing certificates for %s: %w", k.Ref(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("storing certificates for %s: %w", k.Ref(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storing certificates for %s: %w", k.Ref(), err)
	}
	if err := os.Rename(tmp.Name(), k.path+ChainSuffix); err != nil {
		return fmt.Errorf("storing certificates for %s: %w", k.Ref(), err)
	}
	return nil
}
