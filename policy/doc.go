// Package policy owns signet's two policies: the trust policy that decides
// which signatures verification accepts for which repositories (signet
// verify --policy), and the signing policy that limits which key may sign
// which repositories in which formats (least privilege, checked when a
// batch is planned, before anything is signed).
//
// # File format
//
// One YAML (or JSON) document; docs/policy.md has the full reference.
//
//	apiVersion: signet.dev/v1          # required
//	kind: Policy                       # TrustPolicy | SigningPolicy | Policy (both)
//	trust:
//	  - name: prod                     # required, unique: [A-Za-z0-9][A-Za-z0-9_.-]*
//	    scopes: ["registry.example.com/team/*", "127.0.0.1:*/app/**"]
//	    level: enforce                 # enforce | warn | audit
//	    keys: [keys/release.pub]       # PEM public keys or certificates
//	    roots: [ca/root.pem]           # CA certificates (PEM or DER)
//	    identities: ["CN=release-signer, O=Acme, C=US"]   # or "*"
//	    revoked:
//	      keys: [keys/old.pub, "sha256:<hex of the PKIX DER>"]
//	      certificates: [certs/leaked.pem, "sha256:<hex of the DER>", "serial:<hex>"]
//	    require:
//	      formats: [cosign, notation]
//	      attestations: ["https://slsa.dev/provenance/v1"]
//	signing:
//	  - name: release                  # optional
//	    key: "pkcs11:token=release;object=prod-key"  # or file:PATH, or sha256:<fingerprint>
//	    scopes: ["registry.example.com/prod/*"]
//	    formats: [cosign, notation]
//
// Unknown fields are errors, and every error names file:line. Relative paths
// are resolved against the policy file's directory, and every file is read
// when the policy is loaded, so a bad file fails at once, not halfway
// through a run. PINs are refused in key URIs.
//
// # Scopes
//
// A scope is "host[:port]/path". Within one '/'-separated part, '*' matches
// any run of characters ("127.0.0.1:*" matches any port); a part that is
// exactly "**" matches any number of parts, none included
// ("host/team/**" matches host/team, host/team/app and host/team/a/b). The
// scope "*" matches every repository. docker.io is read as index.docker.io,
// and "docker.io/ubuntu" as "docker.io/library/ubuntu".
//
// When several trust rules match, the most specific scope wins: a scope
// without wildcards beats any with one; then the longer literal prefix (the
// text before the first '*'); then more literal characters (not counting
// '/'); then fewer
// "**"; then fewer '*'. "*" comes last. Two scopes of different rules that
// rank equal and match a common repository are a tie: Lint reports it
// (with an example repository) and TrustFor refuses to choose.
//
// # Trust
//
// A *Scope (one trust rule) implements signature.Trust. Keys returns the
// trusted keys minus revoked ones, a key listed as a certificate counting
// as revoked when the certificate is. Chain accepts a certificate chain when
// nothing in it is revoked (by certificate fingerprint, serial number, or
// the leaf's key), it leads to one of the rule's roots, every certificate on
// the path is valid now (signing times are the signer's claim: no timestamp
// vouches for them) and at the signing time, the leaf has keyUsage
// digitalSignature (critical) and extKeyUsage codeSigning and is not a CA,
// and the leaf's subject matches an identity. An identity lists DN
// attributes the subject must all have (it may have more), as notation's
// trustedIdentities do; '*' in a value matches any characters.
//
// Decide turns the formats' findings for one manifest into a Verdict.
// Without require.formats one trusted signature in any format satisfies the
// rule; with it, every listed format must verify. Required attestation
// types must each be present. Any violation blocks under enforce, is
// allowed with a warning under warn, and is only recorded under audit.
//
// # Signing
//
// Signing rules only allow. CheckSigning lets a key sign a repository in
// some formats when one of the rules naming the key covers the repository
// and the rules covering it allow every format; CheckSigningPlan checks a
// whole plan first so that a mis-scoped key signs nothing, and says why for
// each refused image.
package policy
