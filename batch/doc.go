// Package batch owns signing and verifying many images at once: it reads a
// catalog, plans it (expanding tags, globs and multi-arch indexes, resolving
// tags to digests, deduplicating by digest, applying the signing policy), and
// runs the plan through a bounded pool of workers that share one key (and so
// one pool of HSM sessions). It keeps a journal so an interrupted run
// resumes exactly where it stopped, and writes JSON and Markdown reports.
//
// batch is the only package that joins keys, formats and the registry:
// formats never hold a registry client of their own choosing, and keys never
// see a registry.
package batch
