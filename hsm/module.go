//go:build cgo

package hsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// modules holds every loaded PKCS#11 library, keyed by resolved path. A
// library may be initialised only once per process (a second C_Initialize
// fails with CKR_CRYPTOKI_ALREADY_INITIALIZED), so all keys, listings and
// generations on one library share one Ctx, refcounted; the last release
// finalises and unloads it, so that the next use re-reads the library's
// configuration (tests point SOFTHSM2_CONF at a new token directory).
var modules = struct {
	sync.Mutex
	byPath map[string]*module
}{byPath: map[string]*module{}}

// setup serialises opening, generating, importing and listing: SoftHSM
// fails parallel object creation (SoftHSMv2#573), and logins with a wrong
// PIN run in parallel would count several times against the token's retry
// counter. Signing does not take it. It is a channel so waiting honours ctx.
var setup = make(chan struct{}, 1)

func lockSetup(ctx context.Context) (unlock func(), err error) {
	select {
	case setup <- struct{}{}:
		return func() { <-setup }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loginCalls counts C_Login calls made by this package; tests use it to
// prove that a wrong PIN is tried exactly once.
var loginCalls atomic.Int64

type module struct {
	path   string // as the caller named it, for messages
	key    string // resolved path, the map key
	ctx    *pkcs11.Ctx
	call   *signCall
	refs   int  // guarded by modules
	owned  bool // we initialised it, so we finalise it
	tokens map[uint]*token
}

// openModule loads and initialises the library at path, or takes another
// reference to it.
func openModule(path string) (*module, error) {
	key := filepath.Clean(path)
	if r, err := filepath.EvalSymlinks(key); err == nil {
		key = r
	}
	modules.Lock()
	defer modules.Unlock()
	if m := modules.byPath[key]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("loading PKCS#11 module: %w (set module-path= or SIGNET_PKCS11_MODULE to the token's PKCS#11 library)", err)
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("loading PKCS#11 module %s: dlopen failed or the library has no C_GetFunctionList; is it a PKCS#11 library for this architecture?", path)
	}
	owned := true
	if err := ctx.Initialize(); err != nil {
		if rv, ok := ckr(err); ok && uint(rv) == pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			// Someone else in the process initialised it; finalising it
			// later would pull it from under them.
			owned = false
		} else {
			ctx.Destroy()
			return nil, fmt.Errorf("initialising PKCS#11 module %s: %w", path, err)
		}
	}
	call, err := newSignCall(path, ctx)
	if err != nil {
		if owned {
			_ = ctx.Finalize()
		}
		ctx.Destroy()
		return nil, err
	}
	m := &module{path: path, key: key, ctx: ctx, call: call, refs: 1, owned: owned, tokens: map[uint]*token{}}
	modules.byPath[key] = m
	return m, nil
}

func (m *module) release() {
	modules.Lock()
	defer modules.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules.byPath, m.key)
	m.call.close()
	if m.owned {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// tokenInfo describes one present token, for selection and messages.
type tokenInfo struct {
	slot     uint
	info     pkcs11.TokenInfo
	slotInfo pkcs11.SlotInfo
}

func (t tokenInfo) String() string {
	return fmt.Sprintf("%q (serial %s, slot %d)", trimPad(t.info.Label), trimPad(t.info.SerialNumber), t.slot)
}

// presentTokens lists the tokens in the module's slots.
func (m *module) presentTokens() ([]tokenInfo, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("listing slots of PKCS#11 module %s: %w", m.path, err)
	}
	var out []tokenInfo
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			return nil, fmt.Errorf("reading token in slot %d of %s: %w", s, m.path, err)
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		si, _ := m.ctx.GetSlotInfo(s)
		out = append(out, tokenInfo{slot: s, info: ti, slotInfo: si})
	}
	return out, nil
}

// selectToken finds the one token u names. More than one match is an
// error: signing with the wrong token's key is worse than stopping.
func (m *module) selectToken(u *URI) (tokenInfo, error) {
	if err := m.matchLibrary(u); err != nil {
		return tokenInfo{}, err
	}
	all, err := m.presentTokens()
	if err != nil {
		return tokenInfo{}, err
	}
	var match []tokenInfo
	for _, t := range all {
		if tokenMatches(u, t) {
			match = append(match, t)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(all) == 0:
		return tokenInfo{}, fmt.Errorf("no initialised token in PKCS#11 module %s (SoftHSM: check SOFTHSM2_CONF and run softhsm2-util --init-token)", m.path)
	case len(match) == 0:
		return tokenInfo{}, fmt.Errorf("no token %s in PKCS#11 module %s; tokens present: %s", describeTokenSelector(u), m.path, joinTokens(all))
	default:
		return tokenInfo{}, fmt.Errorf("%d tokens match %s in PKCS#11 module %s: %s; add token= or serial= to pick one", len(match), describeTokenSelector(u), m.path, joinTokens(match))
	}
}

func (m *module) matchLibrary(u *URI) error {
	if u.LibraryManufacturer == "" && u.LibraryDescription == "" && u.LibraryVersion == "" {
		return nil
	}
	info, err := m.ctx.GetInfo()
	if err != nil {
		return fmt.Errorf("reading library info of %s: %w", m.path, err)
	}
	bad := func(attr, want, got string) error {
		return fmt.Errorf("PKCS#11 module %s does not match %s=%s (it reports %q)", m.path, attr, want, got)
	}
	if u.LibraryManufacturer != "" && u.LibraryManufacturer != trimPad(info.ManufacturerID) {
		return bad("library-manufacturer", u.LibraryManufacturer, trimPad(info.ManufacturerID))
	}
	if u.LibraryDescription != "" && u.LibraryDescription != trimPad(info.LibraryDescription) {
		return bad("library-description", u.LibraryDescription, trimPad(info.LibraryDescription))
	}
	if u.LibraryVersion != "" {
		maj, min, _ := parseVersion(u.LibraryVersion)
		got := fmt.Sprintf("%d.%d", info.LibraryVersion.Major, info.LibraryVersion.Minor)
		if int(info.LibraryVersion.Major) != maj || (strings.Contains(u.LibraryVersion, ".") && int(info.LibraryVersion.Minor) != min) {
			return bad("library-version", u.LibraryVersion, got)
		}
	}
	return nil
}

func tokenMatches(u *URI, t tokenInfo) bool {
	eq := func(want, got string) bool { return want == "" || want == trimPad(got) }
	return eq(u.Token, t.info.Label) && eq(u.Serial, t.info.SerialNumber) &&
		eq(u.Manufacturer, t.info.ManufacturerID) && eq(u.Model, t.info.Model) &&
		eq(u.SlotManufacturer, t.slotInfo.ManufacturerID) && eq(u.SlotDescription, t.slotInfo.SlotDescription) &&
		(u.SlotID == nil || *u.SlotID == t.slot)
}

func describeTokenSelector(u *URI) string {
	var parts []string
	if u.Token != "" {
		parts = append(parts, fmt.Sprintf("labelled %q", u.Token))
	}
	if u.Serial != "" {
		parts = append(parts, fmt.Sprintf("with serial %q", u.Serial))
	}
	if u.SlotID != nil {
		parts = append(parts, fmt.Sprintf("in slot %d", *u.SlotID))
	}
	if u.Manufacturer != "" {
		parts = append(parts, fmt.Sprintf("made by %q", u.Manufacturer))
	}
	if u.Model != "" {
		parts = append(parts, fmt.Sprintf("of model %q", u.Model))
	}
	if u.SlotManufacturer != "" || u.SlotDescription != "" {
		parts = append(parts, "with the given slot-manufacturer/slot-description")
	}
	if len(parts) == 0 {
		return "(any)"
	}
	return strings.Join(parts, " ")
}

func joinTokens(ts []tokenInfo) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// trimPad drops the blank padding of PKCS#11 fixed-width strings.
func trimPad(s string) string { return strings.TrimRight(s, " \x00") }

// token is the per-process state of one token: the anchor session and the
// login, shared by every key on it.
//
// The anchor session stays open while any key uses the token. PKCS#11 logs
// an application out of a token when its last session closes, so without it
// closing or replacing a pool session could log everyone out. The anchor
// carries the login and the serial setup work (finding objects, generating
// keys, storing certificates), never signatures.
type token struct {
	mod   *module
	slot  uint
	label string
	refs  int // guarded by modules

	mu     sync.Mutex // guards everything below, and serialises use of anchor
	anchor pkcs11.SessionHandle
	pin    *[]byte // the PIN that logged in, for re-logins; pointer keeps it out of %v
	pinErr error   // a PIN failure; sticky so that no further attempt is made
	// released is set when the last key on the token lets go of it. After
	// that the anchor is closed and the module may be finalised and
	// unloaded, where any call would crash the process; a late caller must
	// get an error instead, and must not open an anchor (and a login) that
	// nobody would close.
	released bool
}

// openToken returns the shared state of the token in ti's slot, opening
// its anchor session on first use.
func (m *module) openToken(ti tokenInfo) (*token, error) {
	modules.Lock()
	defer modules.Unlock()
	if t := m.tokens[ti.slot]; t != nil {
		t.refs++
		return t, nil
	}
	sh, err := m.ctx.OpenSession(ti.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("opening session on token %q: %w", trimPad(ti.info.Label), err)
	}
	t := &token{mod: m, slot: ti.slot, label: trimPad(ti.info.Label), refs: 1, anchor: sh}
	m.tokens[ti.slot] = t
	return t, nil
}

func (t *token) release() {
	modules.Lock()
	defer modules.Unlock()
	t.refs--
	if t.refs > 0 {
		return
	}
	delete(t.mod.tokens, t.slot)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.released = true
	// Closing the last session logs the application out of the token.
	_ = t.mod.ctx.CloseSession(t.anchor)
	if t.pin != nil {
		clear(*t.pin)
		t.pin = nil
	}
}

// retain takes one more reference to the token and its module, for a
// TokenHold; the function it returns gives them back. The caller has the
// token open, so neither can be going away meanwhile.
func (t *token) retain() (release func()) {
	modules.Lock()
	t.refs++
	t.mod.refs++
	modules.Unlock()
	return func() {
		t.release()
		t.mod.release()
	}
}

// anchorLocked returns a working anchor session, reopening it when the
// module reports it gone. t.mu must be held.
func (t *token) anchorLocked() (pkcs11.SessionHandle, pkcs11.SessionInfo, error) {
	if err := t.usableLocked(); err != nil {
		return 0, pkcs11.SessionInfo{}, err
	}
	info, err := t.mod.ctx.GetSessionInfo(t.anchor)
	if err == nil {
		return t.anchor, info, nil
	}
	if !sessionGone(err) {
		return 0, info, fmt.Errorf("reading anchor session of token %q: %w", t.label, err)
	}
	sh, oerr := t.mod.ctx.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if oerr != nil {
		return 0, info, fmt.Errorf("reopening anchor session of token %q: %w", t.label, oerr)
	}
	t.anchor = sh
	info, err = t.mod.ctx.GetSessionInfo(sh)
	if err != nil {
		return 0, info, fmt.Errorf("reading anchor session of token %q: %w", t.label, err)
	}
	return sh, info, nil
}

// usableLocked fails once the token has been released. t.mu must be held.
func (t *token) usableLocked() error {
	if t.released {
		return fmt.Errorf("token %q: %w", t.label, ErrClosed)
	}
	return nil
}

// login logs the application in to the token unless it already is or the
// token needs no login. getPIN is called only when a C_Login is about to be
// made. A PIN failure is remembered and returned to every later caller
// without another attempt. It reports whether it called C_Login
// successfully.
func (t *token) login(getPIN func() ([]byte, error)) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usableLocked(); err != nil {
		return false, err
	}
	if t.pinErr != nil {
		return false, t.pinErr
	}
	ti, err := t.mod.ctx.GetTokenInfo(t.slot)
	if err != nil {
		return false, fmt.Errorf("reading token %q: %w", t.label, err)
	}
	if ti.Flags&pkcs11.CKF_LOGIN_REQUIRED == 0 {
		return false, nil
	}
	sh, si, err := t.anchorLocked()
	if err != nil {
		return false, err
	}
	if si.State == pkcs11.CKS_RO_USER_FUNCTIONS || si.State == pkcs11.CKS_RW_USER_FUNCTIONS {
		return false, nil
	}
	if ti.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
		t.pinErr = &PINError{Token: t.label, Code: pkcs11.CKR_PIN_LOCKED}
		return false, t.pinErr
	}
	var pin []byte
	if t.pin != nil {
		pin = *t.pin
	} else {
		if getPIN != nil {
			if pin, err = getPIN(); err != nil {
				return false, fmt.Errorf("reading PIN for token %q: %w", t.label, err)
			}
		}
		if pin == nil {
			return false, fmt.Errorf("token %q needs a PIN: set pin-source=file:PATH (or pin-value=) in the key URI, or SIGNET_PKCS11_PIN", t.label)
		}
	}
	loginCalls.Add(1)
	err = t.mod.ctx.Login(sh, pkcs11.CKU_USER, string(pin))
	if rv, ok := ckr(err); ok && uint(rv) == pkcs11.CKR_USER_ALREADY_LOGGED_IN {
		err = nil
	}
	if err != nil {
		if rv, ok := ckr(err); ok && isPINCode(uint(rv)) {
			t.pinErr = &PINError{Token: t.label, Code: uint(rv)}
			return false, t.pinErr
		}
		return false, fmt.Errorf("logging in to token %q: %w", t.label, err)
	}
	if t.pin == nil {
		kept := append([]byte(nil), pin...)
		t.pin = &kept
	}
	return true, nil
}

// sessionGone reports errors after which a session handle is useless.
func sessionGone(err error) bool {
	rv, ok := ckr(err)
	if !ok {
		return false
	}
	switch uint(rv) {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED:
		return true
	}
	return false
}

// findObjects returns up to max handles matching tmpl, on session sh.
// FindObjectsFinal always runs: a session allows one search at a time.
func findObjects(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute, max int) ([]pkcs11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	var ferr error
	for len(out) < max {
		hs, _, err := ctx.FindObjects(sh, max-len(out))
		if err != nil {
			ferr = err
			break
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := ctx.FindObjectsFinal(sh); err != nil && ferr == nil {
		ferr = err
	}
	return out, ferr
}

// attrs reads attributes one call each: a single call fails as a whole
// when one attribute is missing or sensitive. Missing ones come back nil.
func attrs(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	out := make(map[uint][]byte, len(types))
	for _, ty := range types {
		a, err := ctx.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(ty, nil)})
		if err != nil {
			if rv, ok := ckr(err); ok {
				switch uint(rv) {
				case pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_SENSITIVE:
					continue
				}
			}
			return nil, err
		}
		if len(a) == 1 {
			out[ty] = a[0].Value
		}
	}
	return out, nil
}

// attrUint decodes a CK_ULONG attribute (native byte order).
func attrUint(b []byte) (uint, bool) {
	var v uint64
	switch len(b) {
	case 8:
		v = binary.NativeEndian.Uint64(b)
	case 4:
		v = uint64(binary.NativeEndian.Uint32(b))
	default:
		return 0, false
	}
	return uint(v), true
}

func attrBool(b []byte) bool { return len(b) > 0 && b[0] != 0 }
