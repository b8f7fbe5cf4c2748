package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error is a failed registry request: either the registry answered with an
// unexpected status, or the request never got an answer (Err is set).
type Error struct {
	// Method and URL name the request. URL is redacted: credentials and
	// query values that may carry upload state or signed tokens are removed.
	Method string
	URL    string
	// StatusCode is the HTTP status, 0 when no complete response arrived.
	StatusCode int
	// Code and Message are the first entry of the registry's error body
	// (distribution spec "errors" array), e.g. MANIFEST_UNKNOWN.
	Code    string
	Message string
	// Err is the transport failure when no response arrived.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.URL)
	b.WriteString(": ")
	if e.StatusCode == 0 {
		if e.Err != nil {
			b.WriteString(e.Err.Error())
		} else {
			b.WriteString("no response")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%d", e.StatusCode)
	if e.Code == "" {
		b.WriteByte(' ')
		b.WriteString(http.StatusText(e.StatusCode))
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
		return b.String()
	}
	b.WriteByte(' ')
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the transport failure, so errors.Is(err, context.Canceled)
// and errors.Is(err, syscall.ECONNREFUSED) see through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether repeating the request may succeed: 429, 500,
// 502, 503, 504, or a dropped or refused connection.
func (e *Error) Temporary() bool {
	if e.StatusCode != 0 {
		return retryableStatus(e.StatusCode)
	}
	return e.Err != nil && retryableNetError(e.Err)
}

// Sentinel errors wrapped by the errors that describe them in detail.
var (
	// ErrTooLarge marks a manifest or blob over the size limit.
	ErrTooLarge = errors.New("over the size limit")
	// ErrDigestMismatch marks content whose digest is not the one asked for.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// notFoundCodes are the distribution error codes that mean "no such thing".
var notFoundCodes = map[string]bool{
	"MANIFEST_UNKNOWN":    true,
	"NAME_UNKNOWN":        true,
	"BLOB_UNKNOWN":        true,
	"BLOB_UPLOAD_UNKNOWN": true,
}

// IsNotFound reports whether err is a registry answer meaning the manifest,
// blob or repository does not exist: a 404, or one of the error codes
// MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN (some registries answer those
// with other statuses).
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == http.StatusNotFound || notFoundCodes[e.Code]
}

// IsTemporary reports whether err is a registry failure that may go away if
// the operation is repeated later (see (*Error).Temporary). A cancelled or
// expired context is not temporary.
func IsTemporary(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	// The auth handshake is go-containerregistry's, and so are its errors.
	var te *transport.Error
	if errors.As(err, &te) {
		return retryableStatus(te.StatusCode)
	}
	return retryableNetError(err)
}

// IsContentFault reports whether a failed read is the fault of what was
// read, which reading again will not change: the manifest or blob is gone,
// over the size limit, or not what its digest names. Any other failure (the
// registry failing, access refused) says nothing about the content, which
// may be the very signature sought. Signature formats agree on this rule so
// that a deleted or altered signature is skipped alike by all of them,
// while a failing registry is never taken for an unsigned image.
func IsContentFault(err error) bool {
	return IsNotFound(err) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrDigestMismatch)
}

// IsRefusedReference reports whether err is the answer with which
// registries refuse a manifest naming a blob or manifest they lack:
// distribution 400 (MANIFEST_BLOB_UNKNOWN), go-containerregistry 404. Other
// causes give the same answers, so a caller that repairs such a manifest
// must find something to repair before it tries again.
func IsRefusedReference(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusNotFound)
}

// JoinErrors joins errs on one line, wrapping each. Temporary failures come
// first because IsTemporary judges by the first registry error in the
// chain, and a repeat is worth it when any of them may pass.
func JoinErrors(errs []error) error {
	sorted := slices.Clone(errs)
	slices.SortStableFunc(sorted, func(a, b error) int {
		ta, tb := IsTemporary(a), IsTemporary(b)
		switch {
		case ta == tb:
			return 0
		case ta:
			return -1
		}
		return 1
	})
	args := make([]any, len(sorted))
	for i, err := range sorted {
		args[i] = err
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(sorted)), "; "), args...)
}

// retryableStatus lists the answers worth repeating. Other 4xx describe the
// request itself and repeat identically.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetError recognises connections that were refused, reset or
// closed before an answer, and network timeouts. The request may not have
// reached the registry, or its answer was lost; registry writes are
// content-addressed, so repeating them is safe.
func retryableNetError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxErrorBody bounds how much of an error response is read: enough for any
// distribution error document, little enough that a misbehaving server
// cannot make us buffer a large page.
const maxErrorBody = 64 << 10

// responseError turns an unexpected response into an *Error, reading (a
// bounded part of) the body for the registry's error code. It closes the
// body.
func responseError(method, rawURL string, resp *http.Response) *Error {
	defer resp.Body.Close()
	e := &Error{Method: method, URL: redactURL(rawURL), StatusCode: resp.StatusCode}
	if method == http.MethodHead {
		return e
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		e.Code = doc.Errors[0].Code
		e.Message = doc.Errors[0].Message
		if n := len(doc.Errors); n > 1 {
			e.Message = fmt.Sprintf("%s (and %d more errors)", e.Message, n-1)
		}
		return e
	}
	// Not a distribution error document (a proxy's HTML page, "404 page not
	// found"): keep a short, single-line excerpt.
	text := strings.Join(strings.Fields(string(body)), " ")
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	e.Message = text
	return e
}

// transportError describes a request that got no response. http.Client
// reports those as *url.Error carrying the unredacted URL; its inner error is
// kept instead.
func transportError(method, rawURL string, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Method: method, URL: redactURL(rawURL), Err: err}
}

// keptQuery are query parameters that carry no secrets and help reading an
// error: pagination, the digest of an upload, a referrers filter.
var keptQuery = map[string]bool{"n": true, "last": true, "digest": true, "artifactType": true}

// redactURL drops user info and the values of query parameters that may hold
// upload state or signed tokens (e.g. distribution's _state, S3 signatures).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	u.User = nil
	if u.RawQuery == "" {
		return u.String()
	}
	q := u.Query()
	for k := range q {
		if !keptQuery[k] {
			q[k] = []string{"REDACTED"}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
