package benchmarks

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

// digestN is a distinct, made-up manifest digest per n.
func digestN(n int) v1.Hash {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(n))
	sum := sha256.Sum256(buf[:])
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
}

func BenchmarkPayload(b *testing.B) {
	d := digestN(1)
	b.ReportAllocs()
	for b.Loop() {
		cosign.Payload("registry.example/team/app:v1.2.3", d, nil)
	}
}

// BenchmarkSigManifest builds what Append writes for a new .sig: the layer
// (hashing the payload), the config and the manifest.
func BenchmarkSigManifest(b *testing.B) {
	d := digestN(1)
	payload := cosign.Payload("registry.example/team/app:v1.2.3", d, nil)
	ann := map[string]string{cosign.SignatureAnnotation: "MEUCIQDx7e2c0X4n1s1gN8cS1Q0dJx8b0bq1m7f8q0gYl3m0sQIgZ6vQp3y6g8l2c2w0b1y5h6n7o8p9q0r1s2t3u4v5w6x="}
	b.ReportAllocs()
	for b.Loop() {
		att := &cosign.Attachment{Layers: []cosign.Layer{cosign.NewLayer(cosign.SimpleSigningMediaType, payload, ann)}}
		if _, err := att.Manifest(att.Config()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is the signing step of one cosign signature with an
// in-memory key: payload, SHA-256, ECDSA P-256, the layer.
func BenchmarkSign(b *testing.B) {
	key := testenv.NewKey(b)
	d := digestN(1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cosign.Sign(ctx, key, "registry.example/team/app:v1", d, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreAppend writes one new .sig per iteration to
// go-containerregistry's registry in process, as a batch does (the store
// keeps a tag listing and, with shared-config, one config per repository),
// and reports the HTTP requests and blob uploads per signature.
func BenchmarkStoreAppend(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []cosign.StoreOption
	}{
		{"default", nil},
		{"batch", []cosign.StoreOption{cosign.WithTagListing(), cosign.WithSharedConfig()}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			r := testenv.MemRegistry(b, false)
			ct := registry.NewCountingTransport(nil)
			reg, err := registry.New(registry.WithTransport(ct))
			if err != nil {
				b.Fatal(err)
			}
			repo, err := name.NewRepository(r.Host + "/bench/app")
			if err != nil {
				b.Fatal(err)
			}
			store := cosign.NewStore(reg, mode.opts...)
			f := cosign.NewFormat(store, testenv.NewKey(b), nil, nil)
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s := signature.Subject{Repo: repo, Digest: digestN(int(n.Add(1))), Identity: repo.Name() + ":v1"}
					if _, err := f.Sign(ctx, s); err != nil {
						b.Error(err)
						return
					}
				}
			})
			c := ct.Counts()
			b.ReportMetric(float64(c.Requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(c.Uploads)/float64(b.N), "uploads/op")
		})
	}
}

// BenchmarkPlanner plans a catalog of multi-arch images (an index and
// three children each) from go-containerregistry's registry in process:
// one GET per image, the children taken from the index. It reports the
// heap allocated per planned manifest.
func BenchmarkPlanner(b *testing.B) {
	const images = 100
	r := testenv.MemRegistry(b, false)
	var targets []batch.Target
	for i := range images {
		repo := fmt.Sprintf("plan/app-%02d", i/10)
		tag := fmt.Sprintf("v%d", i%10)
		testenv.SeedImage(b, r.Host, repo, tag, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
		targets = append(targets, batch.Target{Ref: r.Host + "/" + repo + ":" + tag, Recursive: true})
	}
	reg, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	manifests := 0
	for b.Loop() {
		plan, err := batch.NewPlanner(reg, 16).Plan(ctx, targets)
		if err != nil || len(plan.Failures) > 0 || len(plan.Items) != 4*images {
			b.Fatalf("Plan() = %d items, failures %v, %v; want %d items", len(plan.Items), plan.Failures, err, 4*images)
		}
		manifests += len(plan.Items)
	}
	b.ReportMetric(float64(manifests)/b.Elapsed().Seconds(), "manifests/s")
}

// BenchmarkJournal records outcomes from many goroutines at once, each
// record fsynced (group commit shares one fsync between concurrent
// records).
func BenchmarkJournal(b *testing.B) {
	j, err := batch.OpenJournal(filepath.Join(b.TempDir(), "journal.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	var n atomic.Int64
	b.SetParallelism(16) // a batch's default workers per core
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			err := j.Record(batch.JournalRecord{
				Subject: "registry.example/team/app@" + digestN(i).String(), Format: "cosign",
				Key: "pkcs11:token=release;object=signer", Signature: digestN(-i).String(),
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// softHSMToken makes a SoftHSM token holding a P-256 key and returns the
// key's URI. Call it from the top-level benchmark: SoftHSM's configuration
// parser stops at the "=" of a sub-benchmark's directory name.
func softHSMToken(b *testing.B) string {
	tok := testenv.SoftHSM(b)
	tok.GenerateKey(b, "bench", "EC:prime256v1", "01")
	return tok.URI("bench")
}

// openKey opens the key with the given number of sessions until b ends.
func openKey(b *testing.B, uri string, sessions int) hsm.Key {
	k, err := hsm.Open(context.Background(), uri, hsm.WithSessions(sessions))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { k.Close() })
	return k
}

// BenchmarkSoftHSMSign signs SHA-256 digests through the session pool of a
// SoftHSM token from 16 goroutines per core: C_SignInit + C_Sign, and the
// raw-to-DER conversion.
func BenchmarkSoftHSMSign(b *testing.B) {
	uri := softHSMToken(b)
	for _, sessions := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			k := openKey(b, uri, sessions)
			b.ReportAllocs()
			signParallel(b, k, 16)
		})
	}
}

// signParallel signs SHA-256 digests with s from parallelism goroutines
// per GOMAXPROCS until b.N, and reports and returns signatures per second.
func signParallel(b *testing.B, s signature.Signer, parallelism int) float64 {
	digest := sha256.Sum256([]byte("payload"))
	ctx := context.Background()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.SignDigest(ctx, digest[:], crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "signatures/s")
	return rate
}

// netHSM models a network HSM in front of a real signer: a signature
// occupies one of a fixed number of sessions for the round trip (delay)
// plus the real signing, as a PKCS#11 session to a remote HSM is held for
// the whole C_Sign call. It is a benchmark's model, not a key kind.
type netHSM struct {
	signature.Signer
	slots chan struct{}
	delay time.Duration
}

func newNetHSM(s signature.Signer, sessions int, delay time.Duration) *netHSM {
	return &netHSM{Signer: s, slots: make(chan struct{}, sessions), delay: delay}
}

func (n *netHSM) SignDigest(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	select {
	case n.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-n.slots }()
	time.Sleep(n.delay)
	return n.Signer.SignDigest(ctx, d, o)
}

// BenchmarkNetworkHSM signs through the network-HSM model around the real
// SoftHSM key (10 ms per signature, holding a session) with as many
// goroutines as twice the sessions: throughput should be sessions ÷ 10 ms.
// The end-to-end version of this (signet batch with a delaying PKCS#11
// module) is in the harness.
func BenchmarkNetworkHSM(b *testing.B) {
	const delay = 10 * time.Millisecond
	k := openKey(b, softHSMToken(b), 4)
	for _, sessions := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			got := signParallel(b, newNetHSM(k, sessions, delay), max(1, 2*sessions/testingProcs()))
			b.ReportMetric(got/(float64(sessions)/delay.Seconds()), "of-ideal")
		})
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
