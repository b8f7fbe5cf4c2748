// Package attest owns signet's attestations: in-toto Statements (v1) about a
// manifest digest, the SLSA Provenance v1 predicate signet builds from what
// it can know (BuildKit's own provenance in the image index, the GitHub
// Actions environment, explicit flags), and the DSSE envelopes that sign
// them. It stores and reads them in cosign's ".att" format through
// signature/cosign's Store, so that the real `cosign verify-attestation`
// accepts what signet writes and signet accepts what `cosign attest` writes.
//
// Three rules shape the package:
//
//   - Nothing is invented. A provenance field is written only when a source
//     states it; unknown fields are left out rather than filled with empty
//     strings or placeholders, and a subject about which nothing at all is
//     known gets an error, not an empty predicate.
//   - What is signed is exactly what is stored: the DSSE signature covers
//     the pre-authentication encoding of the statement bytes uploaded, with
//     SHA-256 and ECDSA DER as cosign does (cosign-format.md §3).
//   - A rerun adds nothing. An attestation already stored for the same
//     subject, predicate type and predicate by the same key covers a new
//     one; see Format for what "same" means for provenance.
//
// Imports: signature, signature/cosign, signature/dsse (envelopes, shared
// with signature/bundle), signature/certs, registry (its types and errors),
// go-containerregistry's name and v1 types, and the type URIs of
// github.com/in-toto/in-toto-golang. Statements and predicates are plain
// JSON types of this package; see Statement for why.
package attest
