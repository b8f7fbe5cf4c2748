package bundle_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
)

var testDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}

// TestBundleLayout pins the JSON cosign v3 reads: protobuf-JSON names, the
// key hint, the DSSE envelope with one signature and no keyid, and the
// statement.
func TestBundleLayout(t *testing.T) {
	key := testenv.NewKey(t)
	st, err := bundle.NewStatement(testDigest)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + testDigest.Hex + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`; string(st) != want {
		t.Errorf("NewStatement() =\n%s\nwant\n%s", st, want)
	}
	b, err := bundle.Sign(context.Background(), key, st, bundle.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	hint, _ := bundle.KeyHint(key.Public())
	vm := doc["verificationMaterial"].(map[string]any)
	if doc["mediaType"] != bundle.MediaType || vm["publicKey"].(map[string]any)["hint"] != hint || len(vm) != 1 {
		t.Errorf("bundle = %s", b)
	}
	env := doc["dsseEnvelope"].(map[string]any)
	sigs := env["signatures"].([]any)
	if env["payloadType"] != bundle.PayloadType || len(sigs) != 1 || len(sigs[0].(map[string]any)) != 1 {
		t.Errorf("dsseEnvelope = %v; want one signature with sig only", env)
	}
	if p, _ := base64.StdEncoding.DecodeString(env["payload"].(string)); string(p) != string(st) {
		t.Errorf("payload = %s; want the statement", p)
	}
	manifest, desc, err := bundle.NewReferrerManifest(b, signature.Subject{Digest: testDigest, MediaType: string(types.OCIManifestSchema1), Size: 99}, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"},` +
		`"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","size":` + itoa(len(b)) + `,"digest":"` + sha(b) + `"}],` +
		`"annotations":{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1","org.opencontainers.image.created":"2025-01-01T00:00:00Z"},` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":99,"digest":"sha256:` + testDigest.Hex + `"},` +
		`"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`
	if string(manifest) != want {
		t.Errorf("referrer manifest =\n%s\nwant\n%s", manifest, want)
	}
	if desc.ArtifactType != bundle.MediaType || desc.Size != int64(len(manifest)) {
		t.Errorf("descriptor = %+v", desc)
	}
}

// TestCertificateMaterial: with a chain the bundle carries a certificate
// (no intermediates) or a chain without the root, and verifies through
// trust in the root.
func TestCertificateMaterial(t *testing.T) {
	tr := testenv.MemRegistry(t, true)
	reg := newClient(t)
	ctx := testCtx(t)
	for _, inter := range []bool{false, true} {
		key := testenv.NewKey(t)
		ca, chain := issue(t, key, inter)
		f, err := bundle.NewFormat(reg, key, bundle.WithCertificateChain(chain))
		if err != nil {
			t.Fatal(err)
		}
		repo := map[bool]string{false: "cert/leaf", true: "cert/inter"}[inter]
		testenv.SeedSingle(t, tr.Host, repo, "v1")
		s := subject(t, reg, tr.Host+"/"+repo+":v1")
		if _, err := f.Sign(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{ca.Root()}}).Verify(ctx, s)
		if err != nil {
			t.Fatalf("Verify(inter=%v) = %v", inter, err)
		}
		if wantN := len(chain) - 1; len(got.Chain) != wantN {
			t.Errorf("bundle carries %d certificates; want %d (no root)", len(got.Chain), wantN)
		}
		other, _ := issue(t, testenv.NewKey(t), false)
		if _, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{other.Root()}}).Verify(ctx, s); signature.ReasonOf(err) != signature.ReasonUntrustedCert {
			t.Errorf("Verify(other root) = %v; want untrusted-certificate", err)
		}
		// The signing key itself is trusted too (signet verify --key).
		if _, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
			t.Errorf("Verify(KeyTrust) = %v", err)
		}
	}
}

func pushBundle(t *testing.T, reg *registry.Client, s signature.Subject, b []byte) {
	t.Helper()
	ctx := testCtx(t)
	m, desc, err := bundle.NewReferrerManifest(b, s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, blob := range [][]byte{[]byte("{}"), b} {
		if err := reg.UploadBlob(ctx, s.Repo, hash(blob), blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.PushReferrer(ctx, s.Repo, m, "", desc, s.Digest); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyReasons(t *testing.T) {
	tr := testenv.MemRegistry(t, false)
	reg := newClient(t)
	ctx := testCtx(t)
	key := testenv.NewKey(t)
	trust := signature.KeyTrust{Key: key.Public()}
	f, err := bundle.NewFormat(reg, key)
	if err != nil {
		t.Fatal(err)
	}
	seed := func(repo string) signature.Subject {
		testenv.SeedSingle(t, tr.Host, repo, "v1")
		return subject(t, reg, tr.Host+"/"+repo+":v1")
	}
	signed := func(st []byte) []byte {
		b, err := bundle.Sign(ctx, key, st, bundle.SignOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := seed("good")
	if _, err := f.Sign(ctx, good); err != nil {
		t.Fatal(err)
	}
	unsigned := seed("unsigned")
	copied := seed("copied")
	st, _ := bundle.NewStatement(good.Digest)
	pushBundle(t, reg, copied, signed(st))
	tampered := seed("tampered")
	{
		st, _ := bundle.NewStatement(tampered.Digest)
		var doc map[string]any
		json.Unmarshal(signed(st), &doc)
		forged, _ := bundle.NewStatement(good.Digest)
		doc["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(append(forged, ' '))
		b, _ := json.Marshal(doc)
		pushBundle(t, reg, tampered, b)
	}
	attested := seed("attested")
	{
		att := strings.Replace(string(mustStatement(t, attested.Digest)), bundle.PredicateType, "https://slsa.dev/provenance/v1", 1)
		pushBundle(t, reg, attested, signed([]byte(att)))
	}
	tests := []struct {
		name   string
		s      signature.Subject
		trust  signature.Trust
		reason signature.Reason
		msg    string
	}{
		{"good", good, trust, "", ""},
		{"unsigned", unsigned, trust, signature.ReasonUnsigned, "no sigstore bundle"},
		{"wrong key", good, signature.KeyTrust{Key: testenv.NewKey(t).Public()}, signature.ReasonUntrustedKey, "not trusted"},
		{"copied from another manifest", copied, trust, signature.ReasonWrongSubject, good.Digest.Hex},
		{"tampered statement", tampered, trust, signature.ReasonTampered, "altered after signing"},
		{"attestation only", attested, trust, signature.ReasonUnsigned, "attestation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustVerifier(t, reg, tt.trust).Verify(ctx, tt.s)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify() = %v", err)
				}
				return
			}
			var ve *signature.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify() = %v; want a *signature.VerifyError", err)
			}
			if ve.Reason != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Verify() = %s, %q; want %s mentioning %q", ve.Reason, err, tt.reason, tt.msg)
			}
		})
	}
}

func mustStatement(t *testing.T, d v1.Hash) []byte {
	t.Helper()
	b, err := bundle.NewStatement(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignIdempotentConcurrent: concurrent signs of one subject with one
// key leave one bundle; other keys each add theirs, none lost.
func TestSignIdempotentConcurrent(t *testing.T) {
	const n = 6
	for regName, tr := range map[string]*testenv.Registry{"distribution": testenv.DockerRegistry(t), "ggcr-referrers": testenv.MemRegistry(t, true)} {
		t.Run(regName, func(t *testing.T) {
			ctx := testCtx(t)
			reg := newClient(t)
			testenv.SeedSingle(t, tr.Host, "busy", "v1")
			s := subject(t, reg, tr.Host+"/busy:v1")
			f, err := bundle.NewFormat(reg, testenv.NewKey(t))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			res := make([]signature.Result, 2*n)
			errs := make([]error, 2*n)
			for i := range n {
				fk, err := bundle.NewFormat(reg, testenv.NewKey(t))
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() { res[i], errs[i] = f.Sign(ctx, s) })
				wg.Go(func() { res[n+i], errs[n+i] = fk.Sign(ctx, s) })
			}
			wg.Wait()
			skipped := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Sign %d: %v", i, err)
				}
				if res[i].Skipped {
					skipped++
				}
			}
			if skipped != n-1 {
				t.Errorf("skipped %d; want %d", skipped, n-1)
			}
			ds, err := reg.ListReferrers(ctx, s.Repo, s.Digest, "")
			if err != nil || len(ds) != n+1 {
				t.Errorf("ListReferrers() = %d, %v; want %d bundles", len(ds), err, n+1)
			}
		})
	}
}
