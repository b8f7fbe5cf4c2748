// Package benchmarks measures signet. Its Go benchmarks (go test -bench
// ./benchmarks/) time the in-process pieces of the path of one signature:
// building the payload and the .sig manifest, Store.Append against
// go-containerregistry's in-process registry, the planner, the journal, and
// signing through a SoftHSM token, plain and behind a modelled network HSM.
//
// The end-to-end figures (signet batch against notation, cosign and
// go-containerregistry's writer on three registries) come from the harness
// in ./harness (make bench), which writes RESULTS.md; ./latencyproxy is the
// loopback proxy it puts in front of a registry to add latency and count
// requests.
//
// Speed is measured here, never asserted: no test fails because the machine
// is slow.
package benchmarks
