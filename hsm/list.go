//go:build cgo

package hsm

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"os"
	"sort"

	"github.com/miekg/pkcs11"
)

// Token describes a token found by List.

// List lists the tokens of a PKCS#11 module and the keys on them. Public
// key objects are visible without a login. With a PIN, List logs in to each
// token that needs it, at most once per token, and stops at the first PIN
// failure (a *PINError) rather than trying the PIN on the next token. An
// empty modulePath means SIGNET_PKCS11_MODULE.
func List(ctx context.Context, modulePath string, pin []byte) ([]Token, error) {
	if modulePath == "" {
		modulePath = os.Getenv("SIGNET_PKCS11_MODULE")
	}
	if modulePath == "" {
		return nil, fmt.Errorf("module path missing: pass one or set SIGNET_PKCS11_MODULE")
	}
	unlock, err := lockSetup(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	mod, err := openModule(modulePath)
	if err != nil {
		return nil, err
	}
	defer mod.release()
	tis, err := mod.presentTokens()
	if err != nil {
		return nil, err
	}
	var out []Token
	for _, ti := range tis {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := listToken(mod, ti, pin)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func listToken(mod *module, ti tokenInfo, pin []byte) (Token, error) {
	c := mod.ctx
	t := Token{
		Label: trimPad(ti.info.Label), Serial: trimPad(ti.info.SerialNumber),
		Manufacturer: trimPad(ti.info.ManufacturerID), Model: trimPad(ti.info.Model), Slot: ti.slot,
	}
	// A session of its own, closed at the end. If a key of this process
	// is open on the token, its anchor session keeps the login; if not,
	// closing this last session logs out, leaving no login behind.
	sh, err := c.OpenSession(ti.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return t, fmt.Errorf("opening session on token %q: %w", t.Label, err)
	}
	defer c.CloseSession(sh)
	si, err := c.GetSessionInfo(sh)
	if err != nil {
		return t, fmt.Errorf("reading session on token %q: %w", t.Label, err)
	}
	t.LoggedIn = si.State == pkcs11.CKS_RO_USER_FUNCTIONS || si.State == pkcs11.CKS_RW_USER_FUNCTIONS
	if !t.LoggedIn && pin != nil && ti.info.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0 {
		if ti.info.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
			return t, &PINError{Token: t.Label, Code: pkcs11.CKR_PIN_LOCKED}
		}
		loginCalls.Add(1)
		err := c.Login(sh, pkcs11.CKU_USER, string(pin))
		if rv, ok := ckr(err); ok && uint(rv) == pkcs11.CKR_USER_ALREADY_LOGGED_IN {
			err = nil
		}
		if rv, ok := ckr(err); ok && isPINCode(uint(rv)) {
			return t, &PINError{Token: t.Label, Code: uint(rv)}
		}
		if err != nil {
			return t, fmt.Errorf("logging in to token %q: %w", t.Label, err)
		}
		t.LoggedIn = true
	}
	type pairKey struct{ label, id string }
	byKey := map[pairKey]*KeyInfo{}
	var order []pairKey
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
		hs, err := findObjects(c, sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}, 1024)
		if err != nil {
			return t, fmt.Errorf("listing keys on token %q: %w", t.Label, err)
		}
		for _, h := range hs {
			a, err := attrs(c, sh, h, pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE,
				pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
			if err != nil {
				return t, fmt.Errorf("reading a key on token %q: %w", t.Label, err)
			}
			pk := pairKey{string(a[pkcs11.CKA_LABEL]), string(a[pkcs11.CKA_ID])}
			ki := byKey[pk]
			if ki == nil {
				ki = &KeyInfo{Label: pk.label, ID: a[pkcs11.CKA_ID], Algorithm: "unknown"}
				byKey[pk] = ki
				order = append(order, pk)
			}
			if class == pkcs11.CKO_PRIVATE_KEY {
				ki.Private = true
			} else {
				ki.Public = true
			}
			if alg := keyAlgorithm(a); alg != "unknown" {
				ki.Algorithm = alg
			}
		}
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].label != order[j].label {
			return order[i].label < order[j].label
		}
		return bytes.Compare([]byte(order[i].id), []byte(order[j].id)) < 0
	})
	for _, pk := range order {
		ki := byKey[pk]
		u := &URI{Token: t.Label, Serial: t.Serial, Object: ki.Label, ID: ki.ID, ModulePath: mod.path}
		ki.URI = u.String()
		t.Keys = append(t.Keys, *ki)
	}
	return t, nil
}

// keyAlgorithm names a key object's algorithm from its attributes.
func keyAlgorithm(a map[uint][]byte) string {
	kt, ok := attrUint(a[pkcs11.CKA_KEY_TYPE])
	if !ok {
		return "unknown"
	}
	switch kt {
	case pkcs11.CKK_EC:
		if c, err := curveFromParams(a[pkcs11.CKA_EC_PARAMS]); err == nil {
			return curveAlgName(c)
		}
	case pkcs11.CKK_RSA:
		if len(a[pkcs11.CKA_MODULUS]) > 0 {
			return fmt.Sprintf("rsa-%d", bitLen(a[pkcs11.CKA_MODULUS]))
		}
		return "rsa"
	}
	return "unknown"
}

func bitLen(be []byte) int {
	for i, b := range be {
		if b != 0 {
			n := (len(be) - i) * 8
			for m := byte(0x80); m != 0 && b&m == 0; m >>= 1 {
				n--
			}
			return n
		}
	}
	return 0
}

// publicKeyObject reads the public key a URI names from a CKO_PUBLIC_KEY
// object, or else a certificate, without logging in.
func publicKeyObject(ctx context.Context, u *URI, o *options) (crypto.PublicKey, error) {
	path, err := o.modulePath(u)
	if err != nil {
		return nil, err
	}
	unlock, err := lockSetup(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	mod, err := openModule(path)
	if err != nil {
		return nil, err
	}
	defer mod.release()
	ti, err := mod.selectToken(u)
	if err != nil {
		return nil, err
	}
	c := mod.ctx
	sh, err := c.OpenSession(ti.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("opening session on token %q: %w", trimPad(ti.info.Label), err)
	}
	defer c.CloseSession(sh)
	hs, err := findObjects(c, sh, classTemplate(pkcs11.CKO_PUBLIC_KEY, u.Object, u.ID), 2)
	if err != nil {
		return nil, fmt.Errorf("searching token %q for public key %s: %w", trimPad(ti.info.Label), describeKey(u.Object, u.ID), err)
	}
	if len(hs) > 1 {
		return nil, fmt.Errorf("ambiguous key: several public keys %s on token %q; add id= to the URI to pick one", describeKey(u.Object, u.ID), trimPad(ti.info.Label))
	}
	if len(hs) == 1 {
		a, err := attrs(c, sh, hs[0], pkcs11.CKA_KEY_TYPE, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, fmt.Errorf("reading public key %s on token %q: %w", describeKey(u.Object, u.ID), trimPad(ti.info.Label), err)
		}
		kt, _ := attrUint(a[pkcs11.CKA_KEY_TYPE])
		switch kt {
		case pkcs11.CKK_EC:
			return ecPublicFromAttrs(a[pkcs11.CKA_EC_PARAMS], a[pkcs11.CKA_EC_POINT])
		case pkcs11.CKK_RSA:
			return rsaPublic(a[pkcs11.CKA_MODULUS], a[pkcs11.CKA_PUBLIC_EXPONENT])
		}
		return nil, fmt.Errorf("public key %s on token %q has unsupported key type %d", describeKey(u.Object, u.ID), trimPad(ti.info.Label), kt)
	}
	certs, err := readCertificates(c, sh, u.Object, u.ID, nil)
	if err == nil && len(certs) > 0 {
		return certs[0].PublicKey, nil
	}
	return nil, errNoPublicObject
}
