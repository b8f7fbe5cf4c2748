// Package buildkit owns the signing intent a Dockerfile declares for a
// BuildKit build: how it is written, the sign-request predicate that
// carries it, and how it is checked against a signing policy. Its
// subpackages hold the `# syntax=` frontend (frontend), the frontend's image
// (frontendimage), driving buildkitd for `signet build` (solve), and
// finding images whose request is not yet honoured (pending).
//
// A frontend cannot sign what it builds: BuildKit's exporter chooses the
// final manifests, config and index after the frontend has returned, and
// BuildKit's own SLSA provenance is made later still. So signing is split
// in two halves that meet through an attestation:
//
//   - The frontend (frontend.Build, run by cmd/signet-frontend) builds
//     exactly as the Dockerfile frontend of the linked BuildKit version
//     does, reads the intent from `# signet:` comment lines and SIGNET_* build args, checks
//     it against a signing policy when one is given, and attaches to every
//     platform an in-toto attestation of predicate type
//     SignRequestPredicate recording it.
//   - signet itself (signet build, signet batch --pending) finds that
//     attestation in the pushed image index and signs the index, its images
//     and BuildKit's attestation manifests, as requested.
//
// # Intent
//
//	# syntax=registry.example.com/signet-frontend:1
//	# signet:formats=cosign,notation
//	# signet:attest=provenance
//	# signet:key=pkcs11:token=release;object=prod-key
//	# signet:repository=registry.example.com/team/app
//
// Build args SIGNET_FORMATS, SIGNET_ATTEST, SIGNET_KEY and SIGNET_REPOSITORY
// override the lines. A key names the key only: a PIN (pin-value) or a PIN
// source in it fails the build, since BuildKit records build args in its
// provenance. The repository is optional; without it the policy check
// covers the key and formats only, because the image name belongs to the
// exporter and never reaches a frontend.
//
// # Policy
//
// A signing policy (see package policy) reaches the frontend as the named
// build context "signet-policy" (a directory holding policy.yaml, or the
// file SIGNET_POLICY_FILE names) or inline as the build arg SIGNET_POLICY.
// Only its signing rules are read: trust rules name key and certificate
// files the frontend's sandbox cannot reach, and play no part in signing.
//
// This package never links cgo: the frontend image is a static binary.
package buildkit
