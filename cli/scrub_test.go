package cli_test

import (
	"strconv"
	"strings"
	"testing"
)

// TestScrubPINFlagValue: a key URI given to a flag that does not take it
// is quoted by the flag's error, and none of its PIN may be printed, which
// ever of the characters hsm.ParseURI takes into a PIN unencoded it holds;
// the error still names the flag.
func TestScrubPINFlagValue(t *testing.T) {
	for _, pin := range []string{"s3c;ret", "s3c'ret", `s3c"ret`, `s3c\ret`, "s3c ret", "s3c?ret"} {
		for _, uri := range []string{
			"pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=" + pin,
			"pkcs11:token=release;object=signer?pin-value=" + pin + "&module-path=/usr/lib/softhsm/libsofthsm2.so",
		} {
			for _, args := range [][]string{
				{"sign", "--key", "/nonexistent.pem", "--workers", uri, "127.0.0.1:1/app:v1"},
				{"sign", "--key", "/nonexistent.pem", "--workers=" + uri, "127.0.0.1:1/app:v1"},
			} {
				t.Run(strconv.Quote(strings.Join(args, " ")), func(t *testing.T) {
					t.Setenv("GITHUB_ACTIONS", "")
					out, errOut, code := signet(t, args...)
					if code != 1 || strings.Contains(out+errOut, "s3c") || strings.Contains(out+errOut, "ret") ||
						!strings.Contains(errOut, `"--workers" flag`) {
						t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1 and the --workers error without any part of the PIN", code, out, errOut)
					}
				})
			}
		}
	}
}
