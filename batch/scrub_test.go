package batch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-project/signet/hsm"
)

// oddPINs are PINs hsm.ParseURI takes unencoded in a pin-value: it splits
// the query on "&" alone, so each of these characters belongs to the PIN,
// not to what follows the URI. ("&" and "#" cannot be written unencoded:
// ParseURI splits at the one and refuses the other.)
var oddPINs = []string{"s3c;ret", "s3c'ret", `s3c"ret`, `s3c\ret`, "s3c ret", "s3c\tret", "s3c?ret", "s3c=ret", "s3c,ret"}

// pinParts are the halves of every PIN in oddPINs: neither may survive.
var pinParts = []string{"s3c", "ret"}

func leaksPIN(s string) bool {
	return slices.ContainsFunc(pinParts, func(p string) bool { return strings.Contains(s, p) })
}

// oddPINURI is a key URI carrying one of oddPINs.
type oddPINURI struct{ name, uri string }

// oddPINURIs returns key URIs carrying pin, last and in the middle of the
// query, after checking that ParseURI takes each and finds exactly pin in
// it: otherwise the test would check a PIN no key has.
func oddPINURIs(t *testing.T, pin string) []oddPINURI {
	t.Helper()
	uris := []oddPINURI{
		{strconv.Quote(pin) + " last", "pkcs11:token=t;object=k?module-path=/m.so&pin-value=" + pin},
		{strconv.Quote(pin) + " first", "pkcs11:token=t;object=k?pin-value=" + pin + "&module-path=/m.so"},
	}
	for _, u := range uris {
		parsed, err := hsm.ParseURI(u.uri)
		if err != nil {
			t.Fatalf("hsm.ParseURI(%q): %v; the PIN is not a valid one", u.uri, err)
		}
		if got, err := parsed.PIN(); err != nil || string(got) != pin {
			t.Fatalf("hsm.ParseURI(%q).PIN() = %q, %v; want %q", u.uri, got, err, pin)
		}
	}
	return uris
}

// TestScrubOddPINs: wherever a message quotes a key URI, and however it
// quotes it, no part of its PIN survives ScrubPIN, PINValues finds the
// whole PIN, and redactKey drops the whole attribute.
func TestScrubOddPINs(t *testing.T) {
	// How errors quote what the user wrote: bare (go-containerregistry's
	// parse errors), with %q (cobra, most of signet), between quotes as is,
	// and on a line of its own in a message of several lines.
	messages := []string{
		"could not parse reference: %s",
		"invalid argument %q for \"--workers\" flag: strconv.ParseInt: parsing %[1]q: invalid syntax",
		"unexpected '%s' here",
		`key "%s" is not allowed`,
		"first line\n%s\nthird line",
	}
	for _, pin := range oddPINs {
		for _, u := range oddPINURIs(t, pin) {
			uri := u.uri
			t.Run(u.name, func(t *testing.T) {
				if got := PINValues(uri); !slices.Equal(got, []string{pin}) {
					t.Errorf("PINValues = %q; want %q", got, []string{pin})
				}
				if got, want := redactKey(uri), "pkcs11:token=t;object=k?module-path=/m.so"; got != want {
					t.Errorf("redactKey = %q; want %q", got, want)
				}
				for _, m := range messages {
					msg := fmt.Sprintf(m, uri)
					got := ScrubPIN(msg)
					if leaksPIN(got) || !strings.Contains(got, "pin-value=REDACTED") {
						t.Errorf("ScrubPIN(%q) = %q; want the PIN replaced by REDACTED, no part of it left", msg, got)
					}
					if strings.HasPrefix(m, "first line\n") && !strings.HasSuffix(got, "\nthird line") {
						t.Errorf("ScrubPIN(%q) = %q; want the lines after the URI's kept", msg, got)
					}
				}
			})
		}
	}
}

// TestScrubPINKnownRefs: given the references a message may quote, ScrubPIN
// cuts their PINs exactly, in the form they are written and in the form
// %q gives them, so the text after the URI survives; a PIN it was not
// given is still scrubbed to the end of its line.
func TestScrubPINKnownRefs(t *testing.T) {
	const tmpl = "invalid argument %q for \"--workers\" flag: parsing %[1]q: invalid syntax; raw %[1]s: end"
	for _, pin := range oddPINs {
		for _, u := range oddPINURIs(t, pin) {
			uri := u.uri
			t.Run(u.name, func(t *testing.T) {
				want := fmt.Sprintf(tmpl, strings.Replace(uri, "pin-value="+pin, "pin-value=REDACTED", 1))
				msg := fmt.Sprintf(tmpl, uri)
				if got := ScrubPIN(msg, "--workers="+uri, "unrelated"); got != want {
					t.Errorf("ScrubPIN(%q, uri) =\n%q\nwant\n%q", msg, got, want)
				}
				// A different PIN that merely starts like the given one is
				// not cut at the given one's end.
				other := strings.Replace(uri, "pin-value="+pin, "pin-value="+pin+pin, 1)
				if got := ScrubPIN(fmt.Sprintf(tmpl, other), uri); leaksPIN(got) {
					t.Errorf("ScrubPIN(message with another PIN, uri) = %q; want no part of that PIN", got)
				}
			})
		}
	}
}

// TestParseCatalogOddPINs: a catalog that holds a key URI where an image
// belongs gets an error, and the error holds no part of the PIN.
func TestParseCatalogOddPINs(t *testing.T) {
	catalogs := []struct{ name, tmpl string }{
		{"text line", "ok.io/a:1\n%s\n"},
		{"text line after a reference", "ok.io/a:1 %s\n"},
		{"YAML ref", "images:\n- ref: %s\n"},
		{"YAML reference", "images:\n- %s\n"},
		{"YAML key", "images:\n- ref: a:1\n  key: %s\n"},
		{"YAML repository", "images:\n- repository: %s\n"},
		{"YAML boolean", "images:\n- ref: a:1\n  recursive: %s\n"},
		{"YAML format", "images:\n- ref: a:1\n  formats: [%s]\n"},
	}
	for _, pin := range oddPINs {
		for _, u := range oddPINURIs(t, pin) {
			uri := u.uri
			for _, c := range catalogs {
				t.Run(c.name+"/"+u.name, func(t *testing.T) {
					val := uri
					if strings.HasPrefix(c.name, "YAML") {
						val = strconv.Quote(uri) // a YAML double-quoted scalar
					}
					in := fmt.Sprintf(c.tmpl, val)
					_, err := ParseCatalog(strings.NewReader(in), "c")
					if err == nil || leaksPIN(err.Error()) {
						t.Errorf("ParseCatalog(%q) error = %v; want an error without any part of the PIN", in, err)
					}
				})
			}
		}
	}
}
