package policy

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// identity is one trusted-identity pattern: "*", or distinguished-name
// attributes that must all appear in the leaf certificate's subject (the
// subject may hold more, as in notation's trustedIdentities). A value may
// use '*' to match any run of characters; write "\*" for a literal star.
type identity struct {
	text  string
	any   bool
	attrs []dnAttr
	pos   Pos
}

type dnAttr struct {
	oid   asn1.ObjectIdentifier
	name  string // as written, upper-cased ("CN")
	value string // as written, unescaped (stars kept)
	re    *regexp.Regexp
}

// dnNames maps attribute names to OIDs (RFC 4514 plus the ones notation
// and openssl print).
var dnNames = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"S":            {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"POSTALCODE":   {2, 5, 4, 17},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"E":            {1, 2, 840, 113549, 1, 9, 1},
}

// parseIdentity parses "*" or "CN=release-signer, O=Acme, C=US". Commas
// (or '+') separate attributes; "\," "\+" "\=" "\\" "\*" and "\XX" (hex)
// escape; spaces around names and values are dropped unless escaped.
// notation's "x509.subject: " prefix is accepted, so identities can be
// copied from a notation trust policy.
func parseIdentity(s string) (*identity, error) {
	text := s
	s = strings.TrimSpace(s)
	if s == "*" {
		return &identity{text: text, any: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "x509.subject:"); ok {
		s = strings.TrimSpace(rest)
	}
	if s == "" {
		return nil, errors.New("empty identity: write a distinguished name (CN=…, O=…) or \"*\"")
	}
	id := &identity{text: text}
	for _, part := range splitDN(s) {
		eq := indexUnescaped(part, '=')
		if eq < 0 {
			return nil, fmt.Errorf("identity %q: %q is not TYPE=value", text, strings.TrimSpace(part))
		}
		typ := strings.ToUpper(strings.TrimSpace(part[:eq]))
		oid, ok := dnNames[typ]
		if !ok {
			var err error
			if oid, err = parseOID(typ); err != nil {
				return nil, fmt.Errorf("identity %q: unknown attribute type %q (use CN, O, OU, C, ST, L, … or a dotted OID)", text, typ)
			}
		}
		raw := trimUnescapedSpace(part[eq+1:])
		value, pat, err := unescapeDN(raw)
		if err != nil {
			return nil, fmt.Errorf("identity %q: %w", text, err)
		}
		if value == "" {
			return nil, fmt.Errorf("identity %q: %s has an empty value", text, typ)
		}
		re, err := regexp.Compile("^" + pat + "$")
		if err != nil {
			return nil, fmt.Errorf("identity %q: %w", text, err)
		}
		id.attrs = append(id.attrs, dnAttr{oid: oid, name: typ, value: value, re: re})
	}
	return id, nil
}

// splitDN splits on unescaped ',' and '+'.
func splitDN(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ',', '+':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

// trimUnescapedSpace trims spaces, keeping a trailing space that a
// backslash escapes.
func trimUnescapedSpace(s string) string {
	s = strings.TrimLeft(s, " ")
	for strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\\ ") {
		s = s[:len(s)-1]
	}
	return s
}

// unescapeDN returns the value with escapes resolved, and a regular
// expression source for it in which unescaped '*' matches anything. The
// value is gathered as bytes and quoted a literal run at a time, so that
// multi-byte characters, written out or as "\XX" hex escapes, stay whole
// characters in the expression.
func unescapeDN(s string) (value, pattern string, err error) {
	var v, p, lit strings.Builder
	flush := func() {
		p.WriteString(regexp.QuoteMeta(lit.String()))
		lit.Reset()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '*':
			v.WriteByte('*')
			flush()
			p.WriteString(".*")
			continue
		case c == '\\':
			if i+1 >= len(s) {
				return "", "", errors.New("value ends in a lone backslash")
			}
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				c = byte(b)
				i += 2
			} else {
				i++
				c = s[i]
			}
		}
		v.WriteByte(c)
		lit.WriteByte(c)
	}
	flush()
	if !utf8.ValidString(v.String()) {
		return "", "", errors.New("value is not valid UTF-8 (hex escapes must spell whole UTF-8 characters)")
	}
	return v.String(), p.String(), nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("not an OID")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, errors.New("not an OID")
		}
		oid[i] = n
	}
	return oid, nil
}

// matches reports whether every attribute of the pattern appears in the
// subject.
func (id *identity) matches(subject pkix.Name) bool {
	if id.any {
		return true
	}
	for _, a := range id.attrs {
		found := false
		for _, n := range subject.Names {
			if !n.Type.Equal(a.oid) {
				continue
			}
			v, ok := n.Value.(string)
			if !ok {
				v = fmt.Sprint(n.Value)
			}
			if a.re.MatchString(v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// covers reports whether id matches every subject other matches because
// its attributes are a subset of other's (same types, same values).
func (id *identity) covers(other *identity) bool {
	if id.any {
		return true
	}
	if other.any {
		return false
	}
	for _, a := range id.attrs {
		found := false
		for _, b := range other.attrs {
			if a.oid.Equal(b.oid) && a.value == b.value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
