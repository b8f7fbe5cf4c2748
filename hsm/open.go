package hsm

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/signet-project/signet/hsm/pemkey"
)

// refKind splits a KEYREF into a pkcs11 URI or a file path.
func refKind(ref string) (u *URI, path string, err error) {
	switch {
	case ref == "":
		return nil, "", errors.New("empty key reference: want a pkcs11: URI or a key file path")
	case len(ref) >= 7 && strings.EqualFold(ref[:7], "pkcs11:"):
		u, err := ParseURI(ref)
		return u, "", err
	case strings.HasPrefix(ref, "file://"):
		p := strings.TrimPrefix(ref, "file://")
		if !strings.HasPrefix(p, "/") {
			return nil, "", fmt.Errorf("key reference %q: file:// needs an absolute path (file:///path) or use file:relative/path", ref)
		}
		return nil, p, nil
	case strings.HasPrefix(ref, "file:"):
		return nil, strings.TrimPrefix(ref, "file:"), nil
	case schemeRE.MatchString(ref):
		return nil, "", fmt.Errorf("key reference %q: scheme %q is not supported (want a pkcs11: URI or a key file path)", ref, ref[:strings.Index(ref, ":")])
	}
	return nil, ref, nil
}

var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// Open opens the key ref names: a "pkcs11:" URI, or a PEM key file path
// (optionally "file:" prefixed). A PKCS#11 key logs in once, finds its key
// and public key once, and opens its session pool before Open returns;
// close it with Close. PKCS#11 logins are per process and token, so on a
// token another open key already logged in to, no login is made and the
// PIN is not checked.
func Open(ctx context.Context, ref string, opts ...Option) (Key, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	u, path, err := refKind(ref)
	if err != nil {
		return nil, err
	}
	if u != nil {
		k, err := openPKCS11(ctx, u, o)
		if err != nil {
			return nil, fmt.Errorf("opening key %s: %w", u, err)
		}
		return k, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return openFile(path, o)
}

// Generate creates a new key at ref and opens it. alg is one of
// "ecdsa-p256" (the default when empty), "ecdsa-p384", "rsa-2048",
// "rsa-3072" and "rsa-4096".
//
// In a token (ref a pkcs11 URI with object=) the key pair is generated
// inside the token: the private key is CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE, not CKA_EXTRACTABLE and CKA_SIGN; the public key
// CKA_VERIFY. CKA_ID is the URI's id= or 8 random bytes; the returned key's
// Ref carries it. An existing key with the same label or id is an error.
//
// For a file path it writes the key (mode 0600) and "<path>.pub" (PKIX
// PEM). With a password (WithPassword, SIGNET_KEY_PASSWORD or
// COSIGN_PASSWORD, even empty, as cosign does) the key is in cosign's
// encrypted format ("ENCRYPTED SIGSTORE PRIVATE KEY", scrypt N=2^16 r=8
// p=1), so cosign can sign with it too; without one it is plain PKCS#8.
// Existing files are never overwritten.
func Generate(ctx context.Context, ref, alg string, opts ...Option) (Key, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	spec, err := parseAlg(alg)
	if err != nil {
		return nil, err
	}
	u, path, err := refKind(ref)
	if err != nil {
		return nil, err
	}
	if u != nil {
		k, err := generatePKCS11(ctx, u, spec, o)
		if err != nil {
			return nil, fmt.Errorf("generating %s key %s: %w", spec.name, u, err)
		}
		return k, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return generateFile(path, spec, o)
}

// ImportCertificates stores chain (leaf first) with the key ref names,
// replacing any chain stored before: on a token as CKO_CERTIFICATE objects
// with the key's CKA_ID and label, beside a key file as
// "<key path>.chain.pem". chain[0] must be the key's certificate.
func ImportCertificates(ctx context.Context, ref string, chain []*x509.Certificate, opts ...Option) error {
	if len(chain) == 0 {
		return errors.New("storing certificates: empty chain")
	}
	o, err := makeOptions(opts)
	if err != nil {
		return err
	}
	u, path, err := refKind(ref)
	if err != nil {
		return err
	}
	if u != nil {
		if err := importPKCS11Certificates(ctx, u, chain, o); err != nil {
			return fmt.Errorf("storing certificates for %s: %w", u, err)
		}
		return nil
	}
	return importFileCertificates(path, chain, o)
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" PEM block, the
// form cosign's --key and openssl read.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

var errNoPublicObject = errors.New("no public key object or certificate")

// LoadPublicKey resolves a public key reference for verification: a PEM
// file holding a public key ("PUBLIC KEY" or "RSA PUBLIC KEY") or a
// certificate (the first one's key), or any KEYREF. For a pkcs11 URI the
// public key object (or certificate) is read without a login; only when the
// token has neither is the private key opened, which needs the PIN.
func LoadPublicKey(ctx context.Context, ref string, opts ...Option) (crypto.PublicKey, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	u, path, err := refKind(ref)
	if err != nil {
		return nil, err
	}
	if u != nil {
		if u.Object == "" && len(u.ID) == 0 {
			return nil, fmt.Errorf("loading public key %s: the URI names no key: add object= or id=", u)
		}
		pub, err := publicKeyObject(ctx, u, o)
		if err == nil {
			return pub, nil
		}
		if !errors.Is(err, errNoPublicObject) {
			return nil, fmt.Errorf("loading public key %s: %w", u, err)
		}
		k, err := Open(ctx, ref, opts...)
		if err != nil {
			return nil, fmt.Errorf("loading public key %s (the token has no public key object, so the private key was opened): %w", u, err)
		}
		defer k.Close()
		return k.Public(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading public key: %w", err)
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		pub, ok, err := pemkey.Public(block)
		if err != nil {
			return nil, fmt.Errorf("loading public key %s: %w", path, err)
		}
		if ok {
			return pub, nil
		}
	}
	k, err := Open(ctx, ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading public key: %w", err)
	}
	defer k.Close()
	return k.Public(), nil
}
