package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyAsArgument: a key URI where an image belongs (a forgotten --key)
// is refused before anything runs, by position, without quoting it: every
// later path (a reference that fails to parse, cobra's "unknown command",
// the report, the annotations) would print it with its PIN.
func TestKeyAsArgument(t *testing.T) {
	const pin = "918273645"
	uri := "pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=" + pin
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	key := filepath.Join(dir, "k.pem") // never opened
	tests := []struct {
		name string
		args []string
		arg  int // the argument the message names
	}{
		{"sign", []string{"sign", "--key", key, "--report", report, uri}, 1},
		{"sign, second argument", []string{"sign", "--key", key, "--report", report, "127.0.0.1:1/app:v1", uri}, 2},
		{"sign after --", []string{"sign", "--key", key, "--", uri}, 1},
		{"verify", []string{"verify", "--key", key, uri}, 1},
		{"verify-attestation", []string{"verify-attestation", "--key", key, "--type", "slsaprovenance", uri}, 1},
		{"attest", []string{"attest", "--key", key, uri}, 1},
		{"keys public", []string{"keys", "public", uri}, 1},
		{"batch", []string{"batch", "--key", key, uri}, 1},
		{"policy explain", []string{"policy", "explain", "--policy", key, uri}, 1},
		{"a command group", []string{"keys", uri}, 1},
		{"no command", []string{uri}, 1},
		{"after global flags", []string{"--log-format", "json", "-v", uri}, 1},
		{"scheme in capitals", []string{"sign", "--key", key, strings.Replace(uri, "pkcs11:", "PKCS11:", 1)}, 1},
		{"a PIN in no key URI", []string{"sign", "--key", key, "127.0.0.1:1/app?Pin-Value=" + pin}, 1},
		{"a key URI without PIN", []string{"verify", "--key", key, "pkcs11:token=release;object=signer"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GITHUB_ACTIONS", "")
			out, errOut, code := signet(t, tt.args...)
			want := "signet: argument " + string(rune('0'+tt.arg)) + " looks like a key (pkcs11: URI); pass keys with --key or SIGNET_KEY\n"
			if code != 1 || errOut != want || out != "" {
				t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1, no stdout, stderr %q", code, out, errOut, want)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("a report was written")
			}
		})
	}

	t.Run("GitHub Actions masks its PIN", func(t *testing.T) {
		t.Setenv("GITHUB_ACTIONS", "true")
		out, errOut, code := signet(t, "sign", "--key", key, uri)
		if code != 1 || out != "::add-mask::"+pin+"\n" || strings.Contains(errOut, pin) {
			t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1 and only the PIN's ::add-mask:: on stdout", code, out, errOut)
		}
	})

	// A key where a key belongs is no argument; errors quoting flag values
	// still lose the PIN.
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"--key value", []string{"keys", "public", "--key", strings.Replace(uri, "/usr/lib/softhsm", dir, 1)}},
		{"--key=value", []string{"keys", "public", "--key=" + strings.Replace(uri, "/usr/lib/softhsm", dir, 1)}},
		{"a flag that does not take it", []string{"sign", "--key", key, "--workers", uri, "127.0.0.1:1/app:v1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GITHUB_ACTIONS", "")
			out, errOut, code := signet(t, tt.args...)
			if code != 1 || strings.Contains(out+errOut, pin) || strings.Contains(errOut, "looks like a key") {
				t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1, the error it gets without the PIN", code, out, errOut)
			}
		})
	}
}

// TestLogFormat: a --log-format signet does not know is a usage error
// naming the valid ones; text logs where JSON was asked for would reach a
// log shipper that cannot parse them.
func TestLogFormat(t *testing.T) {
	tests := []struct {
		format  string
		wantErr bool
	}{
		{"auto", false},
		{"text", false},
		{"json", false},
		{"jsonl", true},
		{"JSON", true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out, errOut, code := signet(t, "--log-format="+tt.format, "version")
			switch {
			case tt.wantErr && (code != 1 || !strings.Contains(errOut, `--log-format "`+tt.format+`": want one of auto, text, json`) || out != ""):
				t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant a usage error naming auto, text, json", code, out, errOut)
			case !tt.wantErr && (code != 0 || !strings.HasPrefix(out, "signet ")):
				t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant the version", code, out, errOut)
			}
		})
	}
}
