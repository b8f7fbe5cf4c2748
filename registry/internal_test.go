package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"2", 2 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"3600", maxRetryAfter, true},
		{"99999999999999999999", 0, false},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBackoff(t *testing.T) {
	rt := &retryTransport{base: 100 * time.Millisecond}
	for attempt := 1; attempt <= 70; attempt++ {
		step := maxBackoff
		if attempt < 10 {
			step = min(100*time.Millisecond<<(attempt-1), maxBackoff)
		}
		for range 20 {
			if d := rt.backoff(attempt); d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %s; want within [%s, %s]", attempt, d, step/2, step)
			}
		}
	}
	if d := (&retryTransport{}).backoff(3); d != 0 {
		t.Errorf("backoff with zero base = %s; want 0", d)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:5000/v2/app/manifests/v1", "http://127.0.0.1:5000/v2/app/manifests/v1"},
		{"https://user:pw@reg/v2/", "https://reg/v2/"},
		{"http://r/v2/app/blobs/uploads/u?_state=secret&digest=sha256:ab", "http://r/v2/app/blobs/uploads/u?_state=REDACTED&digest=sha256%3Aab"},
		{"https://s3/blob?X-Amz-Signature=s&X-Amz-Credential=c", "https://s3/blob?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"},
		{"http://r/v2/app/tags/list?n=10&last=t9", "http://r/v2/app/tags/list?last=t9&n=10"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestNextLink(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:5000/v2/app/tags/list?n=2")
	tests := []struct {
		links   []string
		want    string
		wantErr bool
	}{
		{nil, "", false},
		{[]string{`</v2/app/tags/list?last=b&n=2>; rel="next"`}, "http://127.0.0.1:5000/v2/app/tags/list?last=b&n=2", false},
		{[]string{`<http://127.0.0.1:5000/v2/app/tags/list?last=b&n=2>; rel=next`}, "http://127.0.0.1:5000/v2/app/tags/list?last=b&n=2", false},
		{[]string{`</first>; rel="first", </v2/next>; rel="next"`}, "http://127.0.0.1:5000/v2/next", false},
		{[]string{`</prev>; rel="prev"`, `</v2/next>; type="x"; rel="last next"`}, "http://127.0.0.1:5000/v2/next", false},
		{[]string{`</v2/next>; rel="prev"`}, "", false},
		{[]string{`<https://elsewhere.example/v2/next>; rel="next"`}, "", true},
	}
	for _, tt := range tests {
		resp := &http.Response{Header: http.Header{"Link": tt.links}, Request: &http.Request{URL: base}}
		got, err := nextLink(resp)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("nextLink(%q) = %q, %v; want %q (error: %v)", tt.links, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	c, err := New(WithInsecure("reg.internal:5000", "lab"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"127.0.0.1", true},
		{"127.10.0.3:443", true},
		{"[::1]:5000", true},
		{"localhost:5000", true},
		{"LOCALHOST", true},
		{"reg.localhost:80", true},
		{"reg.internal:5000", true},
		{"reg.internal:5001", false},
		{"reg.internal", false},
		{"lab:8443", true},
		{"lab", true},
		{"192.168.1.10:5000", false},
		{"index.docker.io", false},
		{"ghcr.io", false},
	}
	for _, tt := range tests {
		if got := c.plainHTTP(tt.host); got != tt.want {
			t.Errorf("plainHTTP(%q) = %v; want %v", tt.host, got, tt.want)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"no attempts", WithRetries(0, time.Second)},
		{"negative backoff", WithRetries(3, -time.Second)},
		{"nil transport", WithTransport(nil)},
		{"nil keychain", WithKeychain(nil)},
		{"empty insecure host", WithInsecure("")},
		{"insecure URL", WithInsecure("http://reg/v2")},
		{"page size 0", WithPageSize(0)},
	}
	for _, tt := range tests {
		if _, err := New(tt.opt); err == nil || !strings.HasPrefix(err.Error(), "registry: With") {
			t.Errorf("New(%s) error = %v; want an error naming the option", tt.name, err)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Method: "GET", URL: "http://127.0.0.1:5000/v2/app/manifests/v1", StatusCode: 404, Code: "MANIFEST_UNKNOWN", Message: "manifest unknown"},
			"GET http://127.0.0.1:5000/v2/app/manifests/v1: 404 MANIFEST_UNKNOWN: manifest unknown"},
		{&Error{Method: "HEAD", URL: "http://r/v2/app/manifests/v1", StatusCode: 404},
			"HEAD http://r/v2/app/manifests/v1: 404 Not Found"},
		{&Error{Method: "PUT", URL: "http://r/x", StatusCode: 502, Message: "bad gateway"},
			"PUT http://r/x: 502 Bad Gateway: bad gateway"},
		{&Error{Method: "POST", URL: "http://r/x", Err: syscall.ECONNREFUSED},
			"POST http://r/x: connection refused"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("pushing signature for x: %w", err) }
	tests := []struct {
		name                string
		err                 error
		notFound, temporary bool
	}{
		{"404 manifest", wrap(&Error{StatusCode: 404, Code: "MANIFEST_UNKNOWN"}), true, false},
		{"404 plain", &Error{StatusCode: 404}, true, false},
		{"name unknown on 400", &Error{StatusCode: 400, Code: "NAME_UNKNOWN"}, true, false},
		{"401", &Error{StatusCode: 401, Code: "UNAUTHORIZED"}, false, false},
		{"429", wrap(&Error{StatusCode: 429}), false, true},
		{"500", &Error{StatusCode: 500}, false, true},
		{"503", &Error{StatusCode: 503}, false, true},
		{"501", &Error{StatusCode: 501}, false, false},
		{"reset", wrap(&Error{Err: syscall.ECONNRESET}), false, true},
		{"refused", &Error{Err: fmt.Errorf("dial: %w", syscall.ECONNREFUSED)}, false, true},
		{"eof", &Error{Err: io.ErrUnexpectedEOF}, false, true},
		{"cancelled", &Error{Err: context.Canceled}, false, false},
		{"deadline", wrap(&Error{Err: context.DeadlineExceeded}), false, false},
		{"plain", errors.New("boom"), false, false},
		{"too large", ErrTooLarge, false, false},
	}
	for _, tt := range tests {
		if got := IsNotFound(tt.err); got != tt.notFound {
			t.Errorf("IsNotFound(%s) = %v; want %v", tt.name, got, tt.notFound)
		}
		if got := IsTemporary(tt.err); got != tt.temporary {
			t.Errorf("IsTemporary(%s) = %v; want %v", tt.name, got, tt.temporary)
		}
	}
}

// TestContentFaults: which failures are the content's own fault (a read
// that will fail again), and which answers to a manifest PUT may mean it
// names something the registry lacks.
func TestContentFaults(t *testing.T) {
	for _, tc := range []struct {
		name           string
		err            error
		fault, refused bool
	}{
		{"404 manifest", &Error{Method: "GET", StatusCode: http.StatusNotFound, Code: "MANIFEST_UNKNOWN"}, true, true},
		{"404 blob, wrapped", fmt.Errorf("reading blob: %w", &Error{Method: "GET", StatusCode: http.StatusNotFound}), true, true},
		{"blob unknown", &Error{Method: "HEAD", StatusCode: http.StatusNotFound, Code: "BLOB_UNKNOWN"}, true, true},
		{"manifest blob unknown, wrapped", fmt.Errorf("writing x: %w", &Error{Method: "PUT", StatusCode: http.StatusBadRequest, Code: "MANIFEST_BLOB_UNKNOWN"}), false, true},
		{"too large", fmt.Errorf("GET x: blob is over the limit: %w", ErrTooLarge), true, false},
		{"digest mismatch", fmt.Errorf("GET x: %w", ErrDigestMismatch), true, false},
		{"500", &Error{Method: "GET", StatusCode: http.StatusInternalServerError}, false, false},
		{"403", &Error{Method: "GET", StatusCode: http.StatusForbidden, Code: "DENIED"}, false, false},
		{"reset", &Error{Method: "GET", Err: syscall.ECONNRESET}, false, false},
		{"cancelled", context.Canceled, false, false},
	} {
		if got := IsContentFault(tc.err); got != tc.fault {
			t.Errorf("IsContentFault(%s: %v) = %v; want %v", tc.name, tc.err, got, tc.fault)
		}
		if got := IsRefusedReference(tc.err); got != tc.refused {
			t.Errorf("IsRefusedReference(%s: %v) = %v; want %v", tc.name, tc.err, got, tc.refused)
		}
	}
}

// TestJoinErrors: the joined error wraps every error and is temporary when
// any of them is, whatever their order.
func TestJoinErrors(t *testing.T) {
	denied := &Error{Method: "GET", URL: "a", StatusCode: http.StatusForbidden}
	failing := &Error{Method: "GET", URL: "b", StatusCode: http.StatusServiceUnavailable}
	for _, errs := range [][]error{{denied, failing}, {failing, denied}} {
		err := JoinErrors(errs)
		if !IsTemporary(err) || !errors.Is(err, denied) || !errors.Is(err, failing) {
			t.Errorf("JoinErrors(%v) = %v (temporary %v); want both wrapped, temporary", errs, err, IsTemporary(err))
		}
	}
	if err := JoinErrors([]error{denied}); IsTemporary(err) {
		t.Errorf("JoinErrors(403) = %v, temporary; want not", err)
	}
}

func TestReferrersTagTruncates(t *testing.T) {
	h := v1.Hash{Algorithm: strings.Repeat("a", 40), Hex: strings.Repeat("f", 128)}
	if got, want := ReferrersTag(h), strings.Repeat("a", 32)+"-"+strings.Repeat("f", 64); got != want {
		t.Errorf("ReferrersTag(long) = %q; want %q", got, want)
	}
}
