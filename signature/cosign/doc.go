// Package cosign owns the cosign signature format as cosign v2/v3 and
// containers/image (podman, skopeo, CRI-O) read it from a registry: the
// simple-signing payload, the "sha256-<hex>.sig" and ".att" tags, and their
// OCI manifests holding one layer per signature, with the signature in the
// "dev.cosignproject.cosign/signature" annotation.
//
// The byte layout follows ../shared/reference/cosign-format.md. Payloads are
// written with the tag the user named in docker-reference (registry/repo:tag)
// because podman's default signedIdentity rejects a repository-only identity;
// cosign ignores the field.
package cosign
