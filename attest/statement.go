package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/in-toto/in-toto-golang/in_toto"

	"github.com/signet-project/signet/signature"
)

// StatementType is the _type of the statements signet writes.
const StatementType = in_toto.StatementInTotoV1

// Statement is an in-toto Statement whose predicate is kept as the exact
// JSON it was made or read with.
//
// in-toto-golang's StatementHeader and Subject are deprecated in favour of
// the protobuf types of github.com/in-toto/attestation, which carry the
// predicate as a structpb.Struct: every number becomes a float64, and
// BuildKit's build configuration holds integers beyond 2^53. So the
// statement is plain JSON here, in the field order of the specification
// and of cosign; the tests check it with the protobuf type's validator.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate,omitempty"`
}

// Subject is what a statement is about: a name and its digests.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// NewStatement makes a v1 statement about s's manifest: one subject named
// after the repository (as cosign attest names it) with the manifest
// digest.
func NewStatement(s signature.Subject, predicateType string, predicate json.RawMessage) *Statement {
	return &Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: s.Repo.Name(), Digest: map[string]string{s.Digest.Algorithm: s.Digest.Hex}}},
		PredicateType: predicateType,
		Predicate:     predicate,
	}
}

// ParseStatement decodes a statement of either in-toto version cosign
// writes: v1, and v0.1 (cosign attest's default). The predicate must be a
// JSON object or absent.
func ParseStatement(b []byte) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	switch s.Type {
	case in_toto.StatementInTotoV1, in_toto.StatementInTotoV01:
	default:
		return nil, fmt.Errorf("in-toto statement has _type %q, want %q or %q", s.Type, in_toto.StatementInTotoV1, in_toto.StatementInTotoV01)
	}
	if s.PredicateType == "" {
		return nil, errors.New("in-toto statement has no predicateType")
	}
	if len(s.Subject) == 0 {
		return nil, errors.New("in-toto statement has no subject")
	}
	if p := bytes.TrimSpace(s.Predicate); len(p) > 0 && p[0] != '{' && !bytes.Equal(p, []byte("null")) {
		return nil, fmt.Errorf("in-toto statement's predicate is not a JSON object")
	}
	return &s, nil
}

// About reports whether one of the statement's subjects carries digest.
func (s *Statement) About(digest v1.Hash) bool {
	for _, sub := range s.Subject {
		if sub.Digest[digest.Algorithm] == digest.Hex {
			return true
		}
	}
	return false
}

// subjects lists the statement's subject digests for messages.
func (s *Statement) subjects() []string {
	var out []string
	for _, sub := range s.Subject {
		for alg, hex := range sub.Digest {
			out = append(out, alg+":"+hex)
		}
	}
	return out
}
