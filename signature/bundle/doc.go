// Package bundle owns the sigstore bundle v0.3 signature format, the
// default of cosign v3: a DSSE envelope over an in-toto Statement v1 whose
// predicate type is https://sigstore.dev/cosign/sign/v1 and whose subject is
// the signed manifest's digest, wrapped in a sigstore bundle (protobuf-JSON
// field names of dev.sigstore.bundle.v1.Bundle), stored as the only layer of
// an OCI 1.1 referrer manifest laid out as cosign writes it
// (cosign-format.md §4), found through the referrers API or its
// sha256-<hex> tag fallback.
//
// Bundles carry no transparency log entries and no timestamps: signet signs
// offline, with long-lived keys. Verifiers must therefore skip the
// transparency log (cosign verify --insecure-ignore-tlog=true).
//
// Verification material: by default the bundle names the key by its hint,
// base64(sha256(PKIX DER)), which is what cosign writes for --key and what
// cosign verify --key accepts. With WithCertificateChain it carries the
// signing certificate instead (a single "certificate" when the chain has no
// intermediates, otherwise an "x509CertificateChain" of leaf and
// intermediates, the root left out, as cosign v3.1 writes for
// --certificate-chain). cosign verify --key does not accept those; cosign's
// certificate flow does, offline: --trusted-root with a trusted root made by
// `cosign trusted-root create --fulcio url=…,certificate-chain=root.pem`,
// --allow-certificate-chain when intermediates are carried, identity and
// issuer regexps (the identity is matched against a subject alternative
// name, so the leaf needs one), --insecure-ignore-sct and
// --insecure-ignore-tlog=true.
package bundle
