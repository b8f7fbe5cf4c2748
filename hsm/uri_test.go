package hsm

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func uintp(v uint) *uint { return &v }

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URI
		str  string // String(); empty means in
	}{
		{
			in:   "pkcs11:token=signer;object=release-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
			want: URI{Token: "signer", Object: "release-key", ModulePath: "/usr/lib/softhsm/libsofthsm2.so"},
			str:  "pkcs11:token=signer;object=release-key?module-path=/usr/lib/softhsm/libsofthsm2.so",
		},
		{
			in:   "pkcs11:token=a;id=%01%02%FF",
			want: URI{Token: "a", ID: []byte{1, 2, 0xff}},
			str:  "pkcs11:token=a;id=%01%02%ff",
		},
		{
			in:   "pkcs11:object=my%20key;type=private",
			want: URI{Object: "my key", Type: "private"},
		},
		{
			in:   "pkcs11:manufacturer=SoftHSM%20project;serial=28756d074a2b7bdd;model=SoftHSM%20v2;slot-id=1244363741",
			want: URI{Manufacturer: "SoftHSM project", Serial: "28756d074a2b7bdd", Model: "SoftHSM v2", SlotID: uintp(1244363741)},
		},
		{
			in:   "PKCS11:token=x",
			want: URI{Token: "x"},
			str:  "pkcs11:token=x",
		},
		{
			// "+" is a literal plus, not a space: not form encoding.
			in:   "pkcs11:token=a+b;x-vendor=ignored",
			want: URI{Token: "a+b"},
			str:  "pkcs11:token=a+b",
		},
		{
			in:   "pkcs11:token=semi%3Bcolon;object=q%3Fm?module-name=softhsm2&pin-value=1234",
			want: URI{Token: "semi;colon", Object: "q?m", ModuleName: "softhsm2"},
			str:  "pkcs11:token=semi%3Bcolon;object=q%3Fm?module-name=softhsm2",
		},
		{
			in:   "pkcs11:library-manufacturer=SoftHSM;library-version=2.6;slot-description=SoftHSM%20slot",
			want: URI{LibraryManufacturer: "SoftHSM", LibraryVersion: "2.6", SlotDescription: "SoftHSM slot"},
		},
		{in: "pkcs11:", want: URI{}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if err != nil {
				t.Fatalf("ParseURI(%q) error: %v", tc.in, err)
			}
			got := *u
			got.pin = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseURI(%q) = %#v; want %#v", tc.in, fields(got), fields(tc.want))
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if s := u.String(); s != str {
				t.Errorf("ParseURI(%q).String() = %q; want %q", tc.in, s, str)
			}
			// The printed form parses back to the same URI.
			u2, err := ParseURI(u.String())
			if err != nil {
				t.Fatalf("re-parsing %q: %v", u.String(), err)
			}
			if u2.String() != u.String() {
				t.Errorf("round trip: %q became %q", u.String(), u2.String())
			}
		})
	}
}

// fields prints a URI's fields, bypassing its String method.
func fields(u URI) string {
	type plain URI
	p := plain(u)
	p.pin = nil
	return fmt.Sprintf("%+v", p)
}

func TestParseURIErrors(t *testing.T) {
	for _, tc := range []struct {
		in       string
		attr     string
		contains string
	}{
		{"token=a", "", `missing "pkcs11:" scheme`},
		{"pkcs11:token=a;token=b", "token", "given twice"},
		{"pkcs11:tokn=a", "tokn", "unknown attribute"},
		{"pkcs11:id=%zz", "id", `invalid percent-encoding "%zz" at offset 0`},
		{"pkcs11:id=%0", "id", "truncated percent-encoding"},
		{"pkcs11:slot-id=abc", "slot-id", "not a decimal slot number"},
		{"pkcs11:slot-id=-1", "slot-id", "not a decimal slot number"},
		{"pkcs11:type=secret", "type", "not one of private, public, cert, secret-key, data"},
		{"pkcs11:token=a?pin-source=/y&pin-value=1", "pin-value", "mutually exclusive"},
		{"pkcs11:token=a?pin-value=1&pin-source=/y", "pin-value", "not shown because it may be part of the PIN"},
		{"pkcs11:token=a?module-path=%zz&pin-value=1", "module-path", `invalid percent-encoding "%zz"`},
		{"pkcs11:token=a?tokn=b&pin-value=1", "tokn", "unknown attribute"},
		{"pkcs11:token=a?pin-value=12%", "pin-value", "%25"},
		{"pkcs11:module-path=/x", "module-path", "is a query attribute"},
		{"pkcs11:token=a?object=b", "object", "is a path attribute"},
		{"pkcs11:token=", "token", "empty value"},
		{"pkcs11:token=a;;object=b", "", "empty attribute"},
		{"pkcs11:token=a#frag", "", "fragments"},
		{"pkcs11:library-version=two", "library-version", "not a version"},
		{"pkcs11:token=a?module-path", "module-path", `no "="`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURI(tc.in)
			var ue *URIError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseURI(%q) = %v; want a *URIError", tc.in, err)
			}
			if ue.Attr != tc.attr || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("ParseURI(%q) error = %q (attr %q); want attr %q and %q", tc.in, err, ue.Attr, tc.attr, tc.contains)
			}
		})
	}
}

func TestURINeverShowsPIN(t *testing.T) {
	const pin = "S3cr3t-PIN-value"
	u, err := ParseURI("pkcs11:token=t;object=k?module-path=/m.so&pin-value=" + pin)
	if err != nil {
		t.Fatal(err)
	}
	if !u.HasPIN() {
		t.Fatal("HasPIN() = false; want true")
	}
	if got, err := u.PIN(); err != nil || string(got) != pin {
		t.Fatalf("PIN() = %q, %v; want the pin-value", got, err)
	}
	type holder struct {
		Exported *URI
		inner    URI
		ptr      *URI
	}
	h := holder{u, *u, u}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("opening", "key", u, "value", *u, "holder", h)
	forms := map[string]string{
		"String":  u.String(),
		"%v":      fmt.Sprintf("%v", u),
		"%+v":     fmt.Sprintf("%+v", *u),
		"%#v":     fmt.Sprintf("%#v", u),
		"%#v val": fmt.Sprintf("%#v", *u),
		//lint:ignore S1025 the point is what fmt's %s verb prints
		"%s":       fmt.Sprintf("%s", u),
		"%q":       fmt.Sprintf("%q", u),
		"%x":       fmt.Sprintf("%x", u),
		"holder":   fmt.Sprintf("%v %+v", h, h),
		"holder#":  fmt.Sprintf("%#v", h),
		"slog":     logBuf.String(),
		"error":    fmt.Errorf("opening %v: %w", u, errors.New("x")).Error(),
		"withoutP": u.withoutPIN().String(),
	}
	for name, s := range forms {
		if strings.Contains(s, pin) || strings.Contains(s, fmt.Sprintf("%x", pin)) {
			t.Errorf("%s form shows the PIN: %s", name, s)
		}
		if strings.Contains(s, "pin-value") {
			t.Errorf("%s form mentions pin-value: %s", name, s)
		}
	}

	// Errors about a malformed pin-value do not quote it.
	for _, in := range []string{
		"pkcs11:token=t?pin-value=%zz" + pin,
		"pkcs11:token=t?" + pin,
		"pkcs11:token=t?pin-value=" + pin + "&pin-value=" + pin,
	} {
		_, err := ParseURI(in)
		if err == nil || strings.Contains(err.Error(), pin) {
			t.Errorf("ParseURI(<uri with PIN>) error = %v; want an error without the PIN", err)
		}
	}
}

// TestURIErrorAfterPINValue: the query is split on "&" before the PIN is
// known, so a PIN with an unencoded "&" turns into further attributes. Each
// such error must be the same fixed text, whatever the PIN holds, so that it
// tells nothing about the PIN; a PIN written with %26 parses.
func TestURIErrorAfterPINValue(t *testing.T) {
	const pre = "pkcs11:token=t;object=k?module-path=/m.so&pin-value="
	want := errAfterPINValue().Error()
	for _, tc := range []struct{ name, pin string }{
		{"unknown attribute", "4711&Secret=99"},
		{"malformed attribute name", "4711&Se cret=99"},
		{"path attribute", "4711&token=99"},
		{"bare attribute name", "4711&module-path"},
		{"bare fragment", "4711&Secret"},
		{"empty part", "4711&&Secret=99"},
		{"bad percent-encoding", "4711&module-name=%zzSecret"},
		{"attribute given twice", "4711&module-path=Secret"},
		{"pin-value twice", "4711&pin-value=Secret"},
		{"pin-source as well", "4711&pin-source=Secret"},
		{"vendor attribute then unknown", "47&x-a=1&Secret=99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseURI(pre + tc.pin)
			var ue *URIError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseURI(<PIN %s>) = %v; want a *URIError", tc.name, err)
			}
			if err.Error() != want {
				t.Errorf("ParseURI(<PIN %s>) error = %q; want the fixed %q", tc.name, err, want)
			}
			if ue.Attr != "pin-value" {
				t.Errorf("URIError.Attr = %q; want pin-value", ue.Attr)
			}
			if strings.Contains(strings.ToLower(err.Error()), "secret") {
				t.Errorf("error quotes part of the PIN: %v", err)
			}
		})
	}
	for _, w := range []string{"%26", "pin-source=file:PATH", "end of the query"} {
		if !strings.Contains(want, w) {
			t.Errorf("error %q does not say how to fix it (%q)", want, w)
		}
	}

	u, err := ParseURI(pre + "4711%26Secret%3D99")
	if err != nil {
		t.Fatalf("ParseURI(pin-value with %%26): %v", err)
	}
	if pin, err := u.PIN(); err != nil || string(pin) != "4711&Secret=99" {
		t.Errorf("PIN() = %q, %v; want the decoded PIN", pin, err)
	}
}

func TestURIPIN(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pin")
	if err := os.WriteFile(file, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNET_PKCS11_PIN", "from-env")
	for _, tc := range []struct {
		uri     string
		want    string
		wantErr string
	}{
		{"pkcs11:token=t?pin-source=file:" + file, "from-file", ""},
		{"pkcs11:token=t?pin-source=file://" + file, "from-file", ""},
		{"pkcs11:token=t?pin-source=" + file, "from-file", ""},
		{"pkcs11:token=t?pin-value=v%20v", "v v", ""},
		{"pkcs11:token=t", "from-env", ""},
		{"pkcs11:token=t?pin-source=file:" + file + ".missing", "", "reading PIN from pin-source " + file + ".missing"},
		{"pkcs11:token=t?pin-source=env:X", "", `scheme "env" is not supported`},
		{"pkcs11:token=t?pin-source=file://host/etc/pin", "", "names a remote host"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			u, err := ParseURI(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			got, err := u.PIN()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("PIN() error = %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("PIN() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	os.Unsetenv("SIGNET_PKCS11_PIN")
	u, _ := ParseURI("pkcs11:token=t")
	if got, err := u.PIN(); got != nil || err != nil {
		t.Errorf("PIN() with nothing set = %q, %v; want nil, nil", got, err)
	}
}

func TestRedactPIN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pkcs11:token=t;object=k?module-path=/m.so&pin-value=1234", "pkcs11:token=t;object=k?module-path=/m.so"},
		{"pkcs11:token=t?pin-value=s3c;ret&module-path=/m.so", "pkcs11:token=t?module-path=/m.so"},
		{"pkcs11:token=t?PIN-Value=a?b'c d", "pkcs11:token=t"},
		{"pkcs11:token=t?pin-value=one&module-path=/m.so&pin-value=two", "pkcs11:token=t?module-path=/m.so"},
		// In the path, where ParseURI refuses it, the PIN may hold the
		// ";" or "?" that seems to end it: it goes to the next "&".
		{"pkcs11:pin-value=12;34?x=y&module-path=/m.so", "pkcs11:?module-path=/m.so"},
		{"pkcs11:token=t;pin-value=1234", "pkcs11:token=t"},
		{"pkcs11:token=t?pin-source=file:/run/pin", "pkcs11:token=t?pin-source=file:/run/pin"},
		{"file:/keys/k.pem", "file:/keys/k.pem"},
	}
	for _, tt := range tests {
		if got := RedactPIN(tt.in); got != tt.want {
			t.Errorf("RedactPIN(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
