package cli

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature/bundle"
	"github.com/signet-project/signet/signature/cosign"
	"github.com/signet-project/signet/signature/notation"
)

// formatSet builds each (key, format) pair's Format once and shares it
// between workers.
type formatSet struct {
	reg   *registry.Client
	store *cosign.Store
	flags *runFlags

	attest *attestSet

	mu    sync.Mutex
	built map[string]batch.Format
}

func newFormatSet(reg *registry.Client, store *cosign.Store, f *runFlags) (*formatSet, error) {
	as, err := newAttestSet(reg, store, &f.provenanceFlags)
	if err != nil {
		return nil, err
	}
	return &formatSet{reg: reg, store: store, flags: f, attest: as, built: map[string]batch.Format{}}, nil
}

func (s *formatSet) forItem(key hsm.Key, formats, attest []string) ([]batch.Format, error) {
	out := make([]batch.Format, 0, len(formats)+len(attest))
	for _, name := range formats {
		f, err := s.get(key, name)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if len(attest) > 0 {
		af, err := s.attest.forItem(key, attest)
		if err != nil {
			return nil, err
		}
		out = append(out, af...)
	}
	return out, nil
}

func (s *formatSet) get(key hsm.Key, name string) (batch.Format, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := key.Ref() + "\x00" + name
	if f, ok := s.built[id]; ok {
		return f, nil
	}
	chain, err := chainFor(key, s.flags.certChain)
	if err != nil {
		return nil, err
	}
	var f batch.Format
	switch name {
	case "cosign":
		var certPEM, chainPEM []byte
		if len(chain) > 0 {
			certPEM = pemCerts(chain[:1])
			chainPEM = pemCerts(chain[1:])
		}
		f = cosign.NewFormat(s.store, key, certPEM, chainPEM)
	case "notation":
		if len(chain) == 0 {
			return nil, fmt.Errorf("the notation format needs a certificate chain for key %s: store one with signet cert import, or pass --cert-chain FILE (leaf first, root last)", key.Ref())
		}
		nf, err := notation.NewFormat(s.reg, key, chain)
		if err != nil {
			return nil, err
		}
		f = nf
	case "sigstore-bundle":
		// A bare-key bundle (publicKey.hint) is the form cosign verify --key
		// accepts; certificates go in only when the user gave a chain.
		var opts []bundle.Option
		if s.flags.certChain != "" {
			opts = append(opts, bundle.WithCertificateChain(chain))
		}
		bf, err := bundle.NewFormat(s.reg, key, opts...)
		if err != nil {
			return nil, err
		}
		f = bf
	default:
		return nil, fmt.Errorf("unknown format %q", name)
	}
	s.built[id] = f
	return f, nil
}

func pemCerts(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}
