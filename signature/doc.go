// Package signature holds what every signature format shares: the Format
// interface the batch engine drives, the descriptor of a signed subject, and
// helpers to move between the encodings keys produce (ASN.1 DER ECDSA) and
// the ones formats store (DER for cosign, raw r||s for JWS).
//
// Each format lives in its own sub-package (cosign, notation, bundle) and
// only encodes, decodes, signs and verifies; storage on a registry goes
// through the small Registry interface each format declares, which
// *registry.Client satisfies.
package signature
