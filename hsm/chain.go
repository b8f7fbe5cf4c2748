package hsm

import (
	"bytes"
	"crypto"
	"crypto/x509"
)

// orderChain puts certs leaf first, each followed by its issuer. The leaf is
// the certificate for pub, or else the one that issued no other. Tokens
// return objects in no particular order, and verifiers (notation, cosign's
// --certificate-chain) want leaf first. Certificates outside the chain go
// last, in their original order.
func orderChain(certs []*x509.Certificate, pub crypto.PublicKey) []*x509.Certificate {
	if len(certs) < 2 {
		return certs
	}
	used := make([]bool, len(certs))
	leaf := -1
	for i, c := range certs {
		if pub != nil && samePublicKey(c.PublicKey, pub) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		for i, c := range certs {
			issuesAnother := false
			for j, d := range certs {
				if i != j && !selfIssued(d) && bytes.Equal(d.RawIssuer, c.RawSubject) {
					issuesAnother = true
					break
				}
			}
			if !issuesAnother {
				leaf = i
				break
			}
		}
	}
	if leaf < 0 {
		return certs
	}
	out := []*x509.Certificate{certs[leaf]}
	used[leaf] = true
	for cur := certs[leaf]; !selfIssued(cur); {
		next := -1
		for j, d := range certs {
			if !used[j] && bytes.Equal(d.RawSubject, cur.RawIssuer) {
				next = j
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = certs[next]
		out = append(out, cur)
	}
	for i, c := range certs {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

func selfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }
