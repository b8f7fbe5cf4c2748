// Package registry owns talking to OCI distribution registries over HTTP:
// resolving references, reading and writing manifests and blobs, listing
// tags, repositories and referrers. It builds on go-containerregistry's name
// and transport packages (reference parsing, docker config.json credentials,
// token auth) but issues its own requests, so that every round trip is
// deliberate: signet's throughput on a disk-backed registry is decided by how
// many requests and uploads each signature costs.
//
// One Client shares one tuned http.Transport and one authenticated transport
// per repository and scope (pull for reads, push,pull once it writes), so the
// auth ping and token exchange happen once per repository, not per request.
// Requests are retried with jittered exponential backoff on 429, 500, 502,
// 503, 504 and dropped connections, honouring Retry-After. Loopback hosts
// (127.0.0.0/8, ::1, localhost) and hosts named with WithInsecure are spoken
// to over plain HTTP; as in go-containerregistry, a registry on a private
// (RFC 1918) address that fails HTTPS during the auth ping is then spoken to
// over HTTP too. CountingTransport measures what operations cost.
//
// Imports: the standard library and go-containerregistry only.
package registry
