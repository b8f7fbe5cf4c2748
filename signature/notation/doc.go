// Package notation owns the Notary Project signature format as the notation
// CLI (v1.x) writes and verifies it on a registry: a JWS envelope in the
// flattened JSON serialization over a payload naming the signed manifest,
// stored as a one-layer OCI manifest that refers to the signed manifest
// through "subject", found through the OCI referrers API or its tag
// fallback (sha256-<hex>).
//
// The byte layout follows ../shared/reference/notation-format.md:
//
//   - the legacy manifest variant (no artifactType, config media type
//     application/vnd.cncf.notary.signature), which every notation release
//     reads, with the certificate thumbprint and creation time annotations,
//     and signet's own expiry annotation (ExpiryAnnotation), which
//     verifiers ignore;
//   - protected header keys sorted, signingTime in whole seconds (UTC), crit
//     listing exactly the critical headers present;
//   - x5c leaf first and self-signed root last, standard base64 DER;
//   - ES256/ES384/ES512 with raw r||s, PS256/PS384/PS512 (salt = hash length)
//     chosen by the leaf's key;
//   - the payload's mediaType is the Content-Type the registry reports for the
//     signed manifest, which is what notation compares it with.
//
// Signing lists the subject's notation signatures first and skips subjects
// that already carry one with the same certificate chain that is valid now
// (not expired), and checks every new envelope before pushing it, as
// notation-go does. Verification applies the format's integrity rules
// (algorithm matches the leaf key, critical headers, content type, chain
// rules, payload descriptor) and leaves trust (roots, identities,
// revocation) to a signature.Trust.
package notation
