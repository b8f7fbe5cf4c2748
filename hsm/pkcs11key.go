//go:build cgo

package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
)

// PKCS11Key is a private key in a PKCS#11 token, signing through a fixed
// pool of sessions. It is safe for concurrent use.
type PKCS11Key struct {
	ref   string
	tok   *token
	label string
	id    []byte
	priv  atomic.Uint64 // pkcs11.ObjectHandle; replaced when the token forgets it
	pub   crypto.PublicKey
	isEC  bool
	// sigSize is the raw signature's length: r||s for ECDSA, the
	// modulus for RSA.
	sigSize int
	certs   []*x509.Certificate
	pool    *sessionPool
	// getPIN re-reads the PIN for a re-login, when no login of this process
	// has kept it.
	getPIN    func() ([]byte, error)
	closeOnce sync.Once
}

var _ Key = (*PKCS11Key)(nil)

// maxReplacements bounds how often one signature replaces a failed
// session. A fresh session failing again means the token or the
// connection is gone, not one session.
const maxReplacements = 3

// Public returns the public key, read once at Open.
func (k *PKCS11Key) Public() crypto.PublicKey { return k.pub }

// Ref returns the key's URI without PIN attributes.
func (k *PKCS11Key) Ref() string { return k.ref }

// String returns Ref, so that %v of a key shows no PIN.
func (k *PKCS11Key) String() string { return k.ref }

// LogValue returns Ref for log/slog.
func (k *PKCS11Key) LogValue() slog.Value { return slog.StringValue(k.ref) }

// Certificates returns the certificates stored on the token with the key's
// CKA_ID, leaf first, read at Open.
func (k *PKCS11Key) Certificates() []*x509.Certificate { return k.certs }

// Stats returns the session pool's counters.
func (k *PKCS11Key) Stats() PoolStats { return k.pool.stats() }

// Sign implements crypto.Signer; rand is unused, the token has its own.
func (k *PKCS11Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.SignDigest(context.Background(), digest, opts)
}

// SignDigest signs digest with CKM_ECDSA (returning DER), CKM_RSA_PKCS
// (DigestInfo prepended here) or CKM_RSA_PKCS_PSS. It waits for a free
// session while ctx allows, replaces sessions that failed, and logs in again
// once after CKR_USER_NOT_LOGGED_IN.
func (k *PKCS11Key) SignDigest(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := checkDigest(digest, opts); err != nil {
		return nil, fmt.Errorf("signing with %s: %w", k.ref, err)
	}
	var mech *pkcs11.Mechanism
	in := digest
	if k.isEC {
		mech = pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)
	} else {
		var err error
		if mech, in, err = rsaMechanism(digest, opts); err != nil {
			return nil, fmt.Errorf("signing with %s: %w", k.ref, err)
		}
	}
	sig, err := k.sign(ctx, mech, in)
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", k.ref, err)
	}
	if k.isEC {
		if sig, err = ecdsaRawToDER(sig); err != nil {
			return nil, fmt.Errorf("signing with %s: %w", k.ref, err)
		}
	}
	return sig, nil
}

func (k *PKCS11Key) sign(ctx context.Context, mech *pkcs11.Mechanism, in []byte) ([]byte, error) {
	p := k.pool
	replacements := 0
	relogged, refound := false, false
	var sh pkcs11.SessionHandle
	held := false
	var since time.Time
	release := func(s pkcs11.SessionHandle) {
		p.held.Add(int64(time.Since(since)))
		p.release(s)
	}
	for {
		if err := ctx.Err(); err != nil {
			if held {
				release(sh)
			}
			return nil, err
		}
		if !held {
			var err error
			if sh, err = p.acquire(ctx); err != nil {
				return nil, err
			}
			held, since = true, time.Now()
		}
		key := pkcs11.ObjectHandle(k.priv.Load())
		sig, err := k.signOnce(sh, key, mech, in)
		if err == nil {
			release(sh)
			p.signed.Add(1)
			return sig, nil
		}
		rv, _ := ckr(err)
		switch {
		case sessionGone(err) || deviceTrouble(rv):
			// Retry on the fresh session itself rather than on another
			// pooled one, which may be just as dead (after an HSM
			// restart all are): the bound then counts fresh sessions
			// failing, which means the token, not a session, is broken.
			fresh, oerr := p.replace(sh, !sessionGone(err))
			if oerr != nil {
				release(0) // a hole; the next taker tries to open it
				return nil, fmt.Errorf("%w; opening a replacement session on token %q failed: %v", err, k.tok.label, oerr)
			}
			sh = fresh
			if replacements++; replacements > maxReplacements {
				release(sh)
				return nil, fmt.Errorf("%w (after replacing the session %d times on token %q)", err, maxReplacements, k.tok.label)
			}
		case uint(rv) == pkcs11.CKR_USER_NOT_LOGGED_IN && !relogged:
			relogged = true
			if rerr := k.relogin(err, key, false); rerr != nil {
				release(sh)
				return nil, rerr
			}
		case (uint(rv) == pkcs11.CKR_KEY_HANDLE_INVALID || uint(rv) == pkcs11.CKR_OBJECT_HANDLE_INVALID) && !refound:
			refound = true
			// Tokens drop handles of private objects on logout (SoftHSM
			// does), so a logout behind our back shows up here first.
			if rerr := k.relogin(err, key, true); rerr != nil {
				release(sh)
				return nil, rerr
			}
		default:
			release(sh)
			return nil, err
		}
	}
}

// relogin logs in again and, with refind, looks the key up again, after
// cause. The caller keeps its session meanwhile: Close waits for every
// session to come back before it closes the anchor and finalises the
// module, so the held session is what keeps both alive for these calls.
// Once Close has begun no further step starts, so that Close is not kept
// waiting for a login or a search whose result it is about to discard.
func (k *PKCS11Key) relogin(cause error, old pkcs11.ObjectHandle, refind bool) error {
	closed := func() error { return fmt.Errorf("giving up after %w: %w", cause, ErrClosed) }
	if k.closing() {
		return closed()
	}
	did, err := k.tok.login(k.getPIN)
	if err != nil {
		return fmt.Errorf("logging in again after %w: %w", cause, err)
	}
	if did {
		k.pool.relogins.Add(1)
	}
	if refind {
		if k.closing() {
			return closed()
		}
		found, err := k.refind(old)
		if err != nil {
			return fmt.Errorf("finding the key again after %w: %w", cause, err)
		}
		if found {
			k.pool.refinds.Add(1)
		}
	}
	if k.closing() {
		return closed()
	}
	return nil
}

// closing reports whether Close has begun on k.
func (k *PKCS11Key) closing() bool {
	select {
	case <-k.pool.closed:
		return true
	default:
		return false
	}
}

func (k *PKCS11Key) signOnce(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, mech *pkcs11.Mechanism, in []byte) ([]byte, error) {
	return k.tok.mod.call.sign(sh, mech, key, in, k.sigSize)
}

// deviceTrouble lists return values after which the session should be
// replaced. CKR_OPERATION_ACTIVE means an earlier operation never ended on
// this session; a fresh session is the only sure way out.
func deviceTrouble(rv pkcs11.Error) bool {
	switch uint(rv) {
	case pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_OPERATION_ACTIVE:
		return true
	}
	return false
}

// refind looks the private key up again by the label and id read at Open,
// unless another goroutine already replaced the failed handle old. It
// reports whether it searched.
func (k *PKCS11Key) refind(old pkcs11.ObjectHandle) (bool, error) {
	t := k.tok
	t.mu.Lock()
	defer t.mu.Unlock()
	if pkcs11.ObjectHandle(k.priv.Load()) != old {
		return false, nil
	}
	sh, _, err := t.anchorLocked()
	if err != nil {
		return false, err
	}
	hs, err := findObjects(t.mod.ctx, sh, privateTemplate(k.label, k.id), 2)
	if err != nil {
		return false, err
	}
	if len(hs) != 1 {
		return false, fmt.Errorf("%d private keys now match label %q id %x on token %q", len(hs), k.label, k.id, t.label)
	}
	k.priv.Store(uint64(hs[0]))
	return true, nil
}

// Close returns the sessions; the last key on a token closes its anchor
// session, and the last user of a module finalises and unloads it.
func (k *PKCS11Key) Close() error {
	k.closeOnce.Do(func() {
		k.pool.closeAll()
		k.tok.release()
		k.tok.mod.release()
	})
	return nil
}

func privateTemplate(label string, id []byte) []*pkcs11.Attribute {
	return classTemplate(pkcs11.CKO_PRIVATE_KEY, label, id)
}

func classTemplate(class uint, label string, id []byte) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if label != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	if len(id) > 0 {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	return t
}

// describeKey names the key a URI selects, for messages.
func describeKey(label string, id []byte) string {
	switch {
	case label != "" && len(id) > 0:
		return fmt.Sprintf("with label %q and id %s", label, hex.EncodeToString(id))
	case label != "":
		return fmt.Sprintf("with label %q", label)
	default:
		return fmt.Sprintf("with id %s", hex.EncodeToString(id))
	}
}

// keyURIChecks rejects URIs that cannot name a signing key.
func keyURIChecks(u *URI) error {
	if u.Type != "" && u.Type != "private" {
		return fmt.Errorf("type=%s names a %s object; signing needs type=private (or no type)", u.Type, u.Type)
	}
	if u.Object == "" && len(u.ID) == 0 {
		return errors.New("the URI names no key: add object= (the key's label) or id=")
	}
	return nil
}

// tokenSession is an opened module, a selected token and, when needed, a
// login: what Open, Generate and ImportCertificates start from. The caller
// holds the setup lock.
func openTokenSession(u *URI, o *options) (*token, error) {
	path, err := o.modulePath(u)
	if err != nil {
		return nil, err
	}
	mod, err := openModule(path)
	if err != nil {
		return nil, err
	}
	ti, err := mod.selectToken(u)
	if err != nil {
		mod.release()
		return nil, err
	}
	tok, err := mod.openToken(ti)
	if err != nil {
		mod.release()
		return nil, err
	}
	if o.hold != nil {
		// Before the login: a PIN failure must outlive this open.
		o.hold.keep(tok, tok.retain)
	}
	if _, err := tok.login(o.pinFunc(u)); err != nil {
		tok.release()
		mod.release()
		return nil, err
	}
	return tok, nil
}

func openPKCS11(ctx context.Context, u *URI, o *options) (*PKCS11Key, error) {
	if err := keyURIChecks(u); err != nil {
		return nil, err
	}
	unlock, err := lockSetup(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return openPKCS11Locked(u, o)
}

// openPKCS11Locked opens the key u names; the setup lock is held.
func openPKCS11Locked(u *URI, o *options) (*PKCS11Key, error) {
	tok, err := openTokenSession(u, o)
	if err != nil {
		return nil, err
	}
	k, err := loadKey(tok, u, o)
	if err != nil {
		tok.release()
		tok.mod.release()
		return nil, err
	}
	return k, nil
}

// loadKey finds the private key, its public half and certificates, and
// opens the session pool. On error the caller releases tok.
func loadKey(tok *token, u *URI, o *options) (*PKCS11Key, error) {
	k := &PKCS11Key{tok: tok, getPIN: o.pinFunc(u)}
	if err := k.find(u); err != nil {
		return nil, err
	}
	ref := u.withoutPIN()
	if len(ref.ID) == 0 {
		ref.ID = k.id
	}
	if ref.ModulePath == "" {
		ref.ModulePath = tok.mod.path
	}
	k.ref = ref.String()

	n := o.sessions
	if ti, err := tok.mod.ctx.GetTokenInfo(tok.slot); err == nil {
		// 0 is CK_EFFECTIVELY_INFINITE and ^0 CK_UNAVAILABLE_INFORMATION;
		// otherwise leave room for the anchor session.
		if m := ti.MaxSessionCount; m != 0 && m != ^uint(0) && n > int(m)-1 {
			n = int(m) - 1
		}
	}
	if n < 1 {
		return nil, fmt.Errorf("token %q allows too few sessions to sign (need 2: one held open, one to sign)", tok.label)
	}
	pool, err := newSessionPool(tok.mod.ctx, tok.slot, n)
	if err != nil {
		return nil, fmt.Errorf("opening %d sessions on token %q: %w", n, tok.label, err)
	}
	k.pool = pool
	return k, nil
}

// find locates the private key, reads its public key and certificates.
func (k *PKCS11Key) find(u *URI) error {
	t := k.tok
	c := t.mod.ctx
	t.mu.Lock()
	defer t.mu.Unlock()
	sh, _, err := t.anchorLocked()
	if err != nil {
		return err
	}
	hs, err := findObjects(c, sh, privateTemplate(u.Object, u.ID), 2)
	if err != nil {
		return fmt.Errorf("searching token %q for private key %s: %w", t.label, describeKey(u.Object, u.ID), err)
	}
	switch len(hs) {
	case 0:
		return fmt.Errorf("no private key %s on token %q (module %s); list the token's keys with: signet keys list --module MODULE", describeKey(u.Object, u.ID), t.label, t.mod.path)
	case 1:
	default:
		return fmt.Errorf("ambiguous key: several private keys %s on token %q; add id= to the URI to pick one", describeKey(u.Object, u.ID), t.label)
	}
	priv := hs[0]
	a, err := attrs(c, sh, priv, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_SIGN,
		pkcs11.CKA_ALWAYS_AUTHENTICATE, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
	if err != nil {
		return fmt.Errorf("reading private key %s on token %q: %w", describeKey(u.Object, u.ID), t.label, err)
	}
	k.priv.Store(uint64(priv))
	k.label = string(a[pkcs11.CKA_LABEL])
	k.id = a[pkcs11.CKA_ID]
	what := fmt.Sprintf("private key %s on token %q", describeKey(k.label, k.id), t.label)
	if v, ok := a[pkcs11.CKA_SIGN]; ok && !attrBool(v) {
		return fmt.Errorf("%s has CKA_SIGN false: it may not sign", what)
	}
	if attrBool(a[pkcs11.CKA_ALWAYS_AUTHENTICATE]) {
		return fmt.Errorf("%s has CKA_ALWAYS_AUTHENTICATE (a PIN entry per signature), which signet does not support for batch signing", what)
	}
	kt, _ := attrUint(a[pkcs11.CKA_KEY_TYPE])
	switch kt {
	case pkcs11.CKK_EC:
		k.isEC = true
		pub, err := k.ecPublic(sh, a[pkcs11.CKA_EC_PARAMS])
		if err != nil {
			return fmt.Errorf("reading the public key of %s: %w", what, err)
		}
		k.pub = pub
	case pkcs11.CKK_RSA:
		if len(a[pkcs11.CKA_MODULUS]) == 0 {
			// Some tokens hide the modulus on the private object; the
			// public object always has it.
			pubs, err := findObjects(c, sh, classTemplate(pkcs11.CKO_PUBLIC_KEY, k.label, k.id), 1)
			if err != nil || len(pubs) == 0 {
				return fmt.Errorf("reading the public key of %s: no modulus on the private key and no public key object", what)
			}
			if a, err = attrs(c, sh, pubs[0], pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT); err != nil {
				return fmt.Errorf("reading the public key of %s: %w", what, err)
			}
		}
		pub, err := rsaPublic(a[pkcs11.CKA_MODULUS], a[pkcs11.CKA_PUBLIC_EXPONENT])
		if err != nil {
			return fmt.Errorf("reading the public key of %s: %w", what, err)
		}
		k.pub = pub
	default:
		return fmt.Errorf("%s has key type %d; signet signs with EC (CKK_EC) and RSA (CKK_RSA) keys", what, kt)
	}
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		k.sigSize = 2 * ((pub.Curve.Params().BitSize + 7) / 8)
	case *rsa.PublicKey:
		k.sigSize = pub.Size()
	}
	certs, err := readCertificates(c, sh, k.label, k.id, k.pub)
	if err != nil {
		return fmt.Errorf("reading certificates of %s: %w", what, err)
	}
	k.certs = certs
	return nil
}

// ecPublic reads CKA_EC_POINT of the public key object paired with k (same
// CKA_ID, else same label), falling back to a certificate.
func (k *PKCS11Key) ecPublic(sh pkcs11.SessionHandle, params []byte) (crypto.PublicKey, error) {
	c := k.tok.mod.ctx
	curve, err := curveFromParams(params)
	if err != nil {
		return nil, err
	}
	tmpl := classTemplate(pkcs11.CKO_PUBLIC_KEY, k.label, k.id)
	if len(k.id) > 0 {
		tmpl = classTemplate(pkcs11.CKO_PUBLIC_KEY, "", k.id)
	}
	pubs, err := findObjects(c, sh, tmpl, 4)
	if err != nil {
		return nil, err
	}
	for _, h := range pubs {
		a, err := attrs(c, sh, h, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		pub, err := ecPublicFromAttrs(a[pkcs11.CKA_EC_PARAMS], a[pkcs11.CKA_EC_POINT])
		if err == nil && pub.Curve == curve {
			return pub, nil
		}
	}
	certs, err := readCertificates(c, sh, k.label, k.id, nil)
	if err == nil {
		for _, cert := range certs {
			if p, ok := cert.PublicKey.(*ecdsa.PublicKey); ok && p.Curve == curve {
				return p, nil
			}
		}
	}
	return nil, errors.New("no public key object (CKO_PUBLIC_KEY) or certificate with the same CKA_ID; store the public key on the token beside the private key")
}

// ecPublicFromAttrs decodes CKA_EC_PARAMS and CKA_EC_POINT. The point is a
// DER OCTET STRING around 04||X||Y per PKCS#11, but some tokens give the
// bare point, so both are accepted.
func ecPublicFromAttrs(params, point []byte) (*ecdsa.PublicKey, error) {
	curve, err := curveFromParams(params)
	if err != nil {
		return nil, err
	}
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		if pub, err := ecdsa.ParseUncompressedPublicKey(curve, inner); err == nil {
			return pub, nil
		}
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("decoding CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

func rsaPublic(mod, exp []byte) (*rsa.PublicKey, error) {
	if len(mod) == 0 || len(exp) == 0 {
		return nil, errors.New("missing CKA_MODULUS or CKA_PUBLIC_EXPONENT")
	}
	e := new(big.Int).SetBytes(exp)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("unsupported RSA public exponent %v", e)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(mod), E: int(e.Int64())}, nil
}

// readCertificates reads the X.509 certificates stored with the key: same
// CKA_ID, or same label when the key has no id, leaf first.
func readCertificates(c *pkcs11.Ctx, sh pkcs11.SessionHandle, label string, id []byte, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	}
	if len(id) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	} else {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	hs, err := findObjects(c, sh, tmpl, 32)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, h := range hs {
		a, err := attrs(c, sh, h, pkcs11.CKA_VALUE, pkcs11.CKA_LABEL)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(a[pkcs11.CKA_VALUE])
		if err != nil {
			return nil, fmt.Errorf("parsing certificate object %q: %w", a[pkcs11.CKA_LABEL], err)
		}
		certs = append(certs, cert)
	}
	return orderChain(certs, pub), nil
}

// generatePKCS11 creates a key pair inside the token: the private key is
// sensitive and not extractable, so it never leaves the token.
func generatePKCS11(ctx context.Context, u *URI, alg algSpec, o *options) (*PKCS11Key, error) {
	if u.Type != "" && u.Type != "private" {
		return nil, fmt.Errorf("type=%s cannot be generated; use type=private or no type", u.Type)
	}
	if u.Object == "" {
		return nil, errors.New("add object= (the new key's label) to the URI")
	}
	unlock, err := lockSetup(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tok, err := openTokenSession(u, o)
	if err != nil {
		return nil, err
	}
	gu := u.withoutPIN()
	gu.pin = u.pin
	if err := tok.generate(gu, alg); err != nil {
		tok.release()
		tok.mod.release()
		return nil, fmt.Errorf("on token %q: %w", tok.label, err)
	}
	k, err := loadKey(tok, gu, o)
	if err != nil {
		tok.release()
		tok.mod.release()
		return nil, err
	}
	return k, nil
}

// generate refuses to shadow an existing key, then runs C_GenerateKeyPair.
// It fills in u.ID when the URI had none.
func (t *token) generate(u *URI, alg algSpec) error {
	c := t.mod.ctx
	t.mu.Lock()
	defer t.mu.Unlock()
	sh, _, err := t.anchorLocked()
	if err != nil {
		return err
	}
	if len(u.ID) == 0 {
		u.ID = make([]byte, 8)
		if _, err := rand.Read(u.ID); err != nil {
			return err
		}
	}
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
		for _, tmpl := range [][]*pkcs11.Attribute{classTemplate(class, u.Object, nil), classTemplate(class, "", u.ID)} {
			hs, err := findObjects(c, sh, tmpl, 1)
			if err != nil {
				return err
			}
			if len(hs) > 0 {
				return fmt.Errorf("a key with label %q or id %x already exists; choose another object=/id= or delete the old key", u.Object, u.ID)
			}
		}
	}
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object),
		pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object),
		pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID),
	}
	var mech *pkcs11.Mechanism
	if alg.curve != nil {
		params, err := paramsForCurve(alg.curve)
		if err != nil {
			return err
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	} else {
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)
		pubT = append(pubT,
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, alg.bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	}
	if _, _, err := c.GenerateKeyPair(sh, []*pkcs11.Mechanism{mech}, pubT, privT); err != nil {
		return err
	}
	return nil
}

// importPKCS11Certificates replaces the certificates stored with the key u
// names by chain, after checking that chain[0] is the key's certificate.
func importPKCS11Certificates(ctx context.Context, u *URI, chain []*x509.Certificate, o *options) error {
	if err := keyURIChecks(u); err != nil {
		return err
	}
	unlock, err := lockSetup(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	o1 := *o
	o1.sessions = 1
	k, err := openPKCS11Locked(u, &o1)
	if err != nil {
		return err
	}
	defer k.Close()
	if !samePublicKey(chain[0].PublicKey, k.pub) {
		return fmt.Errorf("the first certificate (subject %q) is not for this key", chain[0].Subject)
	}
	t := k.tok
	c := t.mod.ctx
	t.mu.Lock()
	defer t.mu.Unlock()
	sh, _, err := t.anchorLocked()
	if err != nil {
		return err
	}
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE)}
	if len(k.id) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, k.id))
	} else {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.label))
	}
	old, err := findObjects(c, sh, tmpl, 64)
	if err != nil {
		return fmt.Errorf("searching old certificates: %w", err)
	}
	for _, h := range old {
		if err := c.DestroyObject(sh, h); err != nil {
			return fmt.Errorf("deleting an old certificate: %w", err)
		}
	}
	for i, cert := range chain {
		serial, err := asn1.Marshal(cert.SerialNumber)
		if err != nil {
			return err
		}
		obj := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
			pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, k.id),
			pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
			pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
			pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
		}
		if _, err := c.CreateObject(sh, obj); err != nil {
			return fmt.Errorf("storing certificate %d (subject %q): %w", i, cert.Subject, err)
		}
	}
	return nil
}
