package attest

import "crypto"

// PayloadType is the DSSE payload type of an in-toto Statement; cosign
// rejects attestations of any other type.
const PayloadType = "application/vnd.in-toto+json"

// Hash is the digest algorithm signet signs envelopes with, whatever the
// key: cosign's legacy attestations are SHA-256 (cosign-format.md §2-3), and
// P-256 keys are what the reference recommends. Verification also accepts
// the curve's own hash (dsse.Hashes), which cosign v3.1 signs with.
//
// The envelopes themselves (signing, verifying, the .att layout with its
// empty keyid) are signature/dsse's, shared with signature/bundle.
const Hash = crypto.SHA256
