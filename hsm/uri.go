package hsm

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// URI is a parsed RFC 7512 "pkcs11:" URI naming a token and a key on it.
//
// The PIN attributes (pin-value, pin-source) are kept out of the exported
// fields and out of every printed form: String, GoString and LogValue drop
// them, so a URI can be logged, put in an error or in a report as is.
type URI struct {
	// Token selection (path attributes): token is CKA_LABEL of the token.
	Token, Manufacturer, Serial, Model string
	// SlotID selects the slot by number; nil when absent. Slot numbers are
	// not stable across restarts on every module (SoftHSM's are random), so
	// prefer Token or Serial.
	SlotID *uint
	// Library and slot attributes, matched against C_GetInfo and
	// C_GetSlotInfo when present.
	LibraryManufacturer, LibraryDescription, LibraryVersion string
	SlotManufacturer, SlotDescription                       string

	// Object is CKA_LABEL of the key, ID its CKA_ID (raw bytes).
	Object string
	ID     []byte
	// Type is one of private, public, cert, secret-key, data; empty when absent.
	Type string

	// ModulePath is the PKCS#11 library to load; ModuleName is kept for
	// printing only (signet loads modules by path).
	ModulePath, ModuleName string

	// pin sits behind a pointer so that fmt, printing a struct that holds a
	// URI in an unexported field, shows an address rather than the PIN.
	pin *pinSpec
}

type pinSpec struct {
	value  string // pin-value, decoded
	source string // pin-source, decoded
	set    byte   // 'v' or 's'
}

// URIError is a malformed pkcs11 URI: which attribute, and why. It never
// quotes a PIN.
type URIError struct {
	Attr   string // attribute name; empty when the URI as a whole is wrong
	Reason string
}

func (e *URIError) Error() string {
	if e.Attr == "" {
		return "invalid pkcs11 URI: " + e.Reason
	}
	return fmt.Sprintf("invalid pkcs11 URI: attribute %q: %s", e.Attr, e.Reason)
}

// Attribute names of RFC 7512, section 2.3.
var (
	pathAttrs  = []string{"token", "manufacturer", "serial", "model", "library-manufacturer", "library-description", "library-version", "slot-manufacturer", "slot-description", "slot-id", "object", "type", "id"}
	queryAttrs = []string{"pin-source", "pin-value", "module-name", "module-path"}
	objTypes   = []string{"private", "public", "cert", "secret-key", "data"}
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ParseURI parses an RFC 7512 pkcs11 URI. Unknown attributes are an error
// (a misspelt "tokn=" would otherwise match every token), except vendor
// attributes starting with "x-", which are ignored as the RFC allows.
func ParseURI(s string) (*URI, error) {
	const scheme = "pkcs11:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, &URIError{Reason: `missing "pkcs11:" scheme`}
	}
	rest := s[len(scheme):]
	path, query, hasQuery := strings.Cut(rest, "?")
	if strings.Contains(rest, "#") {
		return nil, &URIError{Reason: `fragments ("#") are not allowed; percent-encode "#" as %23`}
	}
	u := &URI{}
	seen := map[string]bool{}
	if path != "" {
		for _, part := range strings.Split(path, ";") {
			if err := u.setAttr(part, false, seen); err != nil {
				return nil, err
			}
		}
	}
	if hasQuery && query != "" {
		afterPIN := false
		for _, part := range strings.Split(query, "&") {
			if err := u.setAttr(part, true, seen); err != nil {
				if afterPIN {
					return nil, errAfterPINValue()
				}
				return nil, err
			}
			if name, _, _ := strings.Cut(part, "="); strings.EqualFold(name, "pin-value") {
				afterPIN = true
			}
		}
	}
	return u, nil
}

// errAfterPINValue reports any malformed query attribute that follows
// pin-value. The query is split on "&" before anything is known about the
// PIN, so a PIN with an unencoded "&" runs on into what look like further
// attributes; naming such an attribute, or quoting its value, could put
// part of the PIN in an error. Parts before pin-value cannot hold the PIN
// and keep their precise errors, hence the advice to move pin-value last.
func errAfterPINValue() error {
	return &URIError{Attr: "pin-value", Reason: `an attribute after it is malformed, and is not shown because it may be part of the PIN: ` +
		`percent-encode "&" in the PIN as %26 (and "%" as %25), or put the PIN in a file and use pin-source=file:PATH instead; ` +
		`if the PIN has no "&", move pin-value to the end of the query to see which attribute is wrong`}
}

func (u *URI) setAttr(part string, inQuery bool, seen map[string]bool) error {
	if part == "" {
		return &URIError{Reason: "empty attribute (doubled \";\" or \"&\")"}
	}
	name, raw, ok := strings.Cut(part, "=")
	if !ok {
		// The part may be a bare PIN; echo it only if it is an attribute name.
		if n := strings.ToLower(part); contains(pathAttrs, n) || contains(queryAttrs, n) {
			return &URIError{Attr: n, Reason: `no "=" (expected name=value)`}
		}
		return &URIError{Reason: `an attribute has no "=" (expected name=value)`}
	}
	name = strings.ToLower(name)
	secret := name == "pin-value"
	switch {
	case strings.HasPrefix(name, "x-"):
		return nil
	case inQuery && contains(pathAttrs, name):
		return &URIError{Attr: name, Reason: `is a path attribute: put it before "?", separated by ";"`}
	case !inQuery && contains(queryAttrs, name):
		return &URIError{Attr: name, Reason: `is a query attribute: put it after "?", separated by "&"`}
	case !contains(pathAttrs, name) && !contains(queryAttrs, name):
		if !isAttrName(name) {
			return &URIError{Reason: "malformed attribute name"}
		}
		return &URIError{Attr: name, Reason: "unknown attribute (RFC 7512 path: " + strings.Join(pathAttrs, ", ") + "; query: " + strings.Join(queryAttrs, ", ") + ")"}
	}
	if seen[name] {
		return &URIError{Attr: name, Reason: "given twice"}
	}
	seen[name] = true
	val, err := pctDecode(raw)
	if err != nil {
		if secret {
			return &URIError{Attr: name, Reason: `invalid percent-encoding (write "%" in the PIN as %25, or use pin-source=file:PATH instead)`}
		}
		return &URIError{Attr: name, Reason: err.Error()}
	}
	if len(val) == 0 {
		return &URIError{Attr: name, Reason: "empty value"}
	}
	switch name {
	case "token":
		u.Token = string(val)
	case "manufacturer":
		u.Manufacturer = string(val)
	case "serial":
		u.Serial = string(val)
	case "model":
		u.Model = string(val)
	case "library-manufacturer":
		u.LibraryManufacturer = string(val)
	case "library-description":
		u.LibraryDescription = string(val)
	case "library-version":
		if _, _, err := parseVersion(string(val)); err != nil {
			return &URIError{Attr: name, Reason: err.Error()}
		}
		u.LibraryVersion = string(val)
	case "slot-manufacturer":
		u.SlotManufacturer = string(val)
	case "slot-description":
		u.SlotDescription = string(val)
	case "slot-id":
		n, err := strconv.ParseUint(string(val), 10, 64)
		if err != nil {
			return &URIError{Attr: name, Reason: fmt.Sprintf("%q is not a decimal slot number", val)}
		}
		id := uint(n)
		u.SlotID = &id
	case "object":
		u.Object = string(val)
	case "type":
		t := strings.ToLower(string(val))
		if !contains(objTypes, t) {
			return &URIError{Attr: name, Reason: fmt.Sprintf("%q is not one of %s", val, strings.Join(objTypes, ", "))}
		}
		u.Type = t
	case "id":
		u.ID = val
	case "module-name":
		u.ModuleName = string(val)
	case "module-path":
		u.ModulePath = string(val)
	case "pin-value", "pin-source":
		if u.pin != nil {
			return &URIError{Attr: name, Reason: "pin-value and pin-source are mutually exclusive"}
		}
		if name == "pin-value" {
			u.pin = &pinSpec{value: string(val), set: 'v'}
		} else {
			u.pin = &pinSpec{source: string(val), set: 's'}
		}
	}
	return nil
}

func isAttrName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// pctDecode decodes %XX escapes. Unlike url.QueryUnescape it leaves "+"
// alone: RFC 7512 values are not form-encoded.
func pctDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return nil, fmt.Errorf("truncated percent-encoding at offset %d (want %%XX)", i)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("invalid percent-encoding %q at offset %d (want %%XX with hex digits)", s[i:i+3], i)
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func parseVersion(s string) (major, minor int, err error) {
	maj, min, hasMinor := strings.Cut(s, ".")
	if major, err = strconv.Atoi(maj); err != nil || major < 0 || major > 255 {
		return 0, 0, fmt.Errorf("%q is not a version M or M.N", s)
	}
	if hasMinor {
		if minor, err = strconv.Atoi(min); err != nil || minor < 0 || minor > 255 {
			return 0, 0, fmt.Errorf("%q is not a version M or M.N", s)
		}
	}
	return major, minor, nil
}

// pctEncode escapes every byte outside RFC 3986's unreserved set and the
// extra characters RFC 7512 allows in a path (or, with query, a query) value.
func pctEncode(b []byte, query bool) string {
	const hexdig = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~:[]@!$'()*+,=", c) >= 0 ||
			query && strings.IndexByte("/?|", c) >= 0 {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexdig[c>>4])
		sb.WriteByte(hexdig[c&15])
	}
	return sb.String()
}

// pctEncodeAll escapes every byte; RFC 7512 recommends it for id.
func pctEncodeAll(b []byte) string {
	const hexdig = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte('%')
		sb.WriteByte(hexdig[c>>4])
		sb.WriteByte(hexdig[c&15])
	}
	return sb.String()
}

// String returns the URI in a canonical order without pin-value and
// pin-source: the form Key.Ref returns and logs may carry.
func (u URI) String() string {
	var path []string
	add := func(name, v string) {
		if v != "" {
			path = append(path, name+"="+pctEncode([]byte(v), false))
		}
	}
	add("token", u.Token)
	add("manufacturer", u.Manufacturer)
	add("serial", u.Serial)
	add("model", u.Model)
	add("library-manufacturer", u.LibraryManufacturer)
	add("library-description", u.LibraryDescription)
	add("library-version", u.LibraryVersion)
	add("slot-manufacturer", u.SlotManufacturer)
	add("slot-description", u.SlotDescription)
	if u.SlotID != nil {
		path = append(path, "slot-id="+strconv.FormatUint(uint64(*u.SlotID), 10))
	}
	add("object", u.Object)
	add("type", u.Type)
	if len(u.ID) > 0 {
		path = append(path, "id="+pctEncodeAll(u.ID))
	}
	var query []string
	if u.ModuleName != "" {
		query = append(query, "module-name="+pctEncode([]byte(u.ModuleName), true))
	}
	if u.ModulePath != "" {
		query = append(query, "module-path="+pctEncode([]byte(u.ModulePath), true))
	}
	s := "pkcs11:" + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

// GoString keeps %#v from printing the PIN.
func (u URI) GoString() string { return "hsm.URI(" + strconv.Quote(u.String()) + ")" }

// LogValue keeps log/slog from printing the PIN.
func (u URI) LogValue() slog.Value { return slog.StringValue(u.String()) }

// HasPIN reports whether the URI carries pin-value or pin-source.
func (u *URI) HasPIN() bool { return u.pin != nil }

// PIN resolves the URI's PIN: pin-value, else the file named by pin-source
// ("file:" URI or plain path; one trailing newline is dropped), else the
// SIGNET_PKCS11_PIN environment variable. It returns nil, nil when none is
// set. Errors name the pin-source path, never the PIN.
func (u *URI) PIN() ([]byte, error) {
	if u.pin != nil {
		switch u.pin.set {
		case 'v':
			return []byte(u.pin.value), nil
		case 's':
			return readPINSource(u.pin.source)
		}
	}
	if v, ok := os.LookupEnv("SIGNET_PKCS11_PIN"); ok {
		return []byte(v), nil
	}
	return nil, nil
}

func readPINSource(src string) ([]byte, error) {
	path := src
	if strings.HasPrefix(strings.ToLower(src), "file:") {
		path = src[len("file:"):]
		// file:///run/pin and file://localhost/run/pin name /run/pin.
		if strings.HasPrefix(path, "//") {
			rest := path[2:]
			slash := strings.IndexByte(rest, '/')
			if slash < 0 {
				return nil, &URIError{Attr: "pin-source", Reason: fmt.Sprintf("%q has no path", src)}
			}
			if host := rest[:slash]; host != "" && host != "localhost" {
				return nil, &URIError{Attr: "pin-source", Reason: fmt.Sprintf("%q names a remote host", src)}
			}
			path = rest[slash:]
		}
	} else if i := strings.Index(src, ":"); i > 1 && !strings.ContainsAny(src[:i], "/\\") {
		return nil, &URIError{Attr: "pin-source", Reason: fmt.Sprintf("scheme %q is not supported (use file:PATH or a plain path)", src[:i])}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading PIN from pin-source %s: %w", path, err)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nil
}

// withoutPIN returns a copy of u with its PIN attributes dropped.
func (u *URI) withoutPIN() *URI {
	c := *u
	c.pin = nil
	c.ID = append([]byte(nil), u.ID...)
	if len(u.ID) == 0 {
		c.ID = nil
	}
	return &c
}

// RedactPIN drops every pin-value attribute from a key reference, for
// journals, reports and messages that name a key. An attribute goes with
// its whole value as ParseURI reads it, up to the next "&" (ParseURI
// splits the query on "&" alone, so ";", "?", quotes and blanks may be
// part of the PIN), and with one separator. A pin-value in the path, which
// ParseURI refuses, goes to the same end: its PIN may hold the ";" or "?"
// that would seem to end it there, and a reference that cannot be used
// loses nothing by losing the attributes after it. The attribute name is
// matched in any case, in any reference, since a reference written wrongly
// is still the user's secret.
func RedactPIN(ref string) string {
	const attr = "pin-value="
	for {
		start := indexFold(ref, attr)
		if start < 0 {
			return ref
		}
		end := len(ref)
		if j := strings.IndexByte(ref[start+len(attr):], '&'); j >= 0 {
			end = start + len(attr) + j
		}
		ref = cutAttr(ref, start, end)
	}
}

// cutAttr removes the attribute that starts at start and whose value ends
// at end, with one separator: the "&" that ended it, or the one before it
// when it ends the reference. When it took the "?" that began the query
// (a pin-value in the path), the query that remains gets it back.
func cutAttr(ref string, start, end int) string {
	if end == len(ref) {
		if start > 0 && strings.IndexByte("&;?", ref[start-1]) >= 0 {
			start--
		}
		return ref[:start]
	}
	if q := strings.IndexByte(ref, '?'); q > start && q < end {
		return strings.TrimSuffix(ref[:start], ";") + "?" + ref[end+1:]
	}
	return ref[:start] + ref[end+1:]
}

// indexFold returns where the first s in ref begins, in any case, or -1.
// It compares byte for byte: lower-casing ref could change its length.
func indexFold(ref, s string) int {
	for i := 0; i+len(s) <= len(ref); i++ {
		if strings.EqualFold(ref[i:i+len(s)], s) {
			return i
		}
	}
	return -1
}
