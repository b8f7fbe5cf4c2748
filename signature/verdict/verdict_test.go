package verdict_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/verdict"
)

// Verdicts the test's classify ranks, lowest first.
var (
	errMalformed    = errors.New("malformed")
	errUntrustedKey = errors.New("untrusted key")
	errOther        = errors.New("for another manifest")
)

func classify(err error) (signature.Reason, int) {
	switch {
	case errors.Is(err, errOther):
		return signature.ReasonWrongSubject, 3
	case errors.Is(err, errUntrustedKey):
		return signature.ReasonUntrustedKey, 2
	default:
		return signature.ReasonMalformed, 1
	}
}

// regErr is a failed read as the registry client reports it.
func regErr(status int, code, path string) error {
	return &registry.Error{Method: http.MethodGet, URL: "https://r.example/v2/app/" + path, StatusCode: status, Code: code}
}

// step feeds one outcome into a tally.
type step func(*verdict.Tally)

func reject(at int, err error) step { return func(t *verdict.Tally) { t.Reject(at, err) } }
func fault(at int, err error) step  { return func(t *verdict.Tally) { t.Fault(at, err) } }
func unread(err error) step         { return func(t *verdict.Tally) { t.Unread(err) } }

// TestTally: the error a Verify returns when no candidate passes. With
// only verdicts (a fault is one) it is a *signature.VerifyError carrying
// the most telling one; with a candidate the registry failed to deliver it
// is a plain error that quotes that verdict without wrapping it, so that it
// cannot pass for one.
func TestTally(t *testing.T) {
	s := signature.Subject{
		Repo:   name.MustParseReference("r.example/app:v1").Context(),
		Digest: v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"},
	}
	unsigned := errors.New("no test signature")
	gone0 := regErr(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifests/sha256:a0")
	gone1 := regErr(http.StatusNotFound, "BLOB_UNKNOWN", "blobs/sha256:b1")
	down := regErr(http.StatusServiceUnavailable, "", "blobs/sha256:c2")
	denied := regErr(http.StatusForbidden, "DENIED", "blobs/sha256:d3")
	malformed0 := fmt.Errorf("signature a0: %w: %w", errMalformed, gone0)
	malformed1 := fmt.Errorf("signature b1: %w: %w", errMalformed, gone1)
	key1 := fmt.Errorf("signature k1: %w", errUntrustedKey)
	key2 := fmt.Errorf("signature k2: %w", errUntrustedKey)
	other := fmt.Errorf("signature o: %w", errOther)

	for _, tt := range []struct {
		name             string
		listed, examined int
		steps            []step
		// reason is the *signature.VerifyError's, "" for a plain error.
		reason signature.Reason
		want   string // the error's text
		// wraps are in the error's chain; quoted are named in its text
		// but not in its chain.
		wraps, quoted []error
		temporary     bool
	}{
		{
			name:   "no candidates: unsigned",
			reason: signature.ReasonUnsigned,
			want:   "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test unsigned: no test signature",
			wraps:  []error{unsigned},
		},
		{
			name:   "candidates that are not signatures: unsigned",
			listed: 2, examined: 2,
			reason: signature.ReasonUnsigned,
			want:   "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test unsigned: no test signature",
		},
		{
			name:   "the highest rank is the verdict",
			listed: 3, examined: 3,
			steps:  []step{reject(0, key1), reject(1, other), reject(2, key2)},
			reason: signature.ReasonWrongSubject,
			want:   "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test wrong-subject: signature o: for another manifest",
			wraps:  []error{other},
		},
		{
			name:   "the first among equals",
			listed: 2, examined: 2,
			steps:  []step{reject(0, key1), reject(1, key2)},
			reason: signature.ReasonUntrustedKey,
			want:   "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test untrusted-key: signature k1: untrusted key",
			wraps:  []error{key1},
		},
		{
			name:   "a fault that is the verdict is not named twice",
			listed: 1, examined: 1,
			steps:  []step{fault(0, gone0), reject(0, malformed0)},
			reason: signature.ReasonMalformed,
			want:   "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test malformed: signature a0: malformed: GET https://r.example/v2/app/manifests/sha256:a0: 404 MANIFEST_UNKNOWN",
			wraps:  []error{gone0},
		},
		{
			name:   "faults beside the verdict are named after it",
			listed: 3, examined: 3,
			steps:  []step{fault(0, gone0), reject(0, malformed0), reject(1, key1), fault(2, gone1), reject(2, malformed1)},
			reason: signature.ReasonUntrustedKey,
			want: "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test untrusted-key: signature k1: untrusted key; " +
				"could not read 2 other signature(s): GET https://r.example/v2/app/manifests/sha256:a0: 404 MANIFEST_UNKNOWN; GET https://r.example/v2/app/blobs/sha256:b1: 404 BLOB_UNKNOWN",
			wraps: []error{key1},
		},
		{
			name:   "fewer examined than listed",
			listed: 150, examined: 100,
			steps:  []step{reject(0, key1)},
			reason: signature.ReasonUntrustedKey,
			want:   "r.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: test untrusted-key: signature k1: untrusted key (examined the first 100 of 150 signatures)",
			wraps:  []error{key1},
		},
		{
			name:   "an unread candidate: no verdict",
			listed: 1, examined: 1,
			steps:     []step{unread(down)},
			want:      "checking test signatures of app: could not read 1 of its 1 signatures: GET https://r.example/v2/app/blobs/sha256:c2: 503 Service Unavailable",
			wraps:     []error{down},
			temporary: true,
		},
		{
			name:   "an unread candidate beside verdicts quotes the best",
			listed: 4, examined: 4,
			steps: []step{fault(0, gone0), reject(0, malformed0), unread(denied), reject(2, other), unread(down)},
			want: "checking test signatures of app: could not read 3 of its 4 signatures: " +
				"GET https://r.example/v2/app/blobs/sha256:c2: 503 Service Unavailable; GET https://r.example/v2/app/blobs/sha256:d3: 403 DENIED; " +
				"GET https://r.example/v2/app/manifests/sha256:a0: 404 MANIFEST_UNKNOWN; " +
				"of the other signatures none verifies: signature o: for another manifest",
			wraps:     []error{down, denied},
			quoted:    []error{errOther, errMalformed, gone0},
			temporary: true, // down, though denied was first
		},
		{
			name:   "an unread candidate when fewer examined than listed",
			listed: 150, examined: 100,
			steps: []step{reject(0, key1), unread(denied)},
			want: "checking test signatures of app: could not read 1 of the 100 examined: GET https://r.example/v2/app/blobs/sha256:d3: 403 DENIED; " +
				"of the other signatures none verifies: signature k1: untrusted key",
			wraps:  []error{denied},
			quoted: []error{errUntrustedKey},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tally := verdict.Tally{Subject: s, Format: "test", Noun: "signature", Classify: classify,
				Checking: "test signatures of app", Unsigned: unsigned, Listed: tt.listed, Examined: tt.examined}
			for _, step := range tt.steps {
				step(&tally)
			}
			err := tally.Err()
			if err == nil {
				t.Fatal("Err() = nil")
			}
			if err.Error() != tt.want {
				t.Errorf("Err() =\n  %s\nwant\n  %s", err, tt.want)
			}
			var ve *signature.VerifyError
			switch isVerdict := errors.As(err, &ve); {
			case tt.reason == "" && isVerdict:
				t.Errorf("Err() is a *signature.VerifyError (reason %s); want a plain error", ve.Reason)
			case tt.reason != "" && !isVerdict:
				t.Errorf("Err() = %T; want a *signature.VerifyError", err)
			case isVerdict && (ve.Reason != tt.reason || ve.Format != "test" || ve.Subject != s):
				t.Errorf("Err() = %+v; want reason %s, format test, subject %s", ve, tt.reason, s.Name())
			}
			for _, w := range tt.wraps {
				if !errors.Is(err, w) {
					t.Errorf("Err() does not wrap %q", w)
				}
			}
			for _, q := range tt.quoted {
				if errors.Is(err, q) {
					t.Errorf("Err() wraps %q; want it only quoted", q)
				}
			}
			if got := registry.IsTemporary(err); got != tt.temporary {
				t.Errorf("IsTemporary(Err()) = %v; want %v", got, tt.temporary)
			}
		})
	}
}
