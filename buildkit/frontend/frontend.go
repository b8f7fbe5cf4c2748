// Package frontend owns signet's BuildKit `# syntax=` frontend: the
// Dockerfile frontend of the linked BuildKit version, which also checks the
// Dockerfile's signing intent against a signing policy and records it as a
// sign-request attestation on every platform (see package buildkit for the
// intent, and cmd/signet-frontend for the binary).
package frontend

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/result"

	"github.com/signet-project/signet/buildkit"
)

// policyFiles are the names looked for in buildkit.PolicyContext when
// SIGNET_POLICY_FILE names none.
var policyFiles = []string{"policy.yaml", "policy.yml", "policy.json"}

// requestPath is where the sign-request predicate lies in the scratch ref
// the attestations point at.
const requestPath = "/signet-sign-request.json"

// Build is the frontend: the Dockerfile frontend of the linked BuildKit
// version, plus the sign-request attestation when the Dockerfile or the
// build args declare a signing intent. Without an intent it is exactly
// builder.Build, so images come out byte for byte as with dockerfile.v0.
//
// Subrequests (outline, targets, lint: the "requestid" opt) pass through
// untouched. So does a build that the Dockerfile frontend would forward to
// another `# syntax=` image (no "cmdline" opt, as when this frontend is run
// through gateway.v0 directly): the frontend it forwards to sees the
// Dockerfile too, and attaching here as well would attest twice.
func Build(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
	opts := c.BuildOpts().Opts
	if opts["requestid"] != "" {
		return builder.Build(ctx, c)
	}
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, err
	}
	src, err := bc.ReadEntrypoint(ctx, "Dockerfile")
	if err != nil {
		return nil, err
	}
	if _, ok := opts["cmdline"]; !ok {
		if _, ok := opts["build-arg:BUILDKIT_SYNTAX"]; ok {
			return builder.Build(ctx, c)
		}
		if _, _, _, ok := parser.DetectSyntax(src.Data); ok {
			return builder.Build(ctx, c)
		}
	}
	filename := "Dockerfile"
	if src.SourceMap != nil && src.SourceMap.Filename != "" {
		filename = src.SourceMap.Filename
	}
	req, err := buildkit.ParseIntent(path.Base(filename), src.Data, bc.BuildArgs)
	if err != nil {
		return nil, err
	}
	if req == nil {
		// Nothing to sign, so a policy given too has nothing to forbid.
		return builder.Build(ctx, c)
	}

	// The policy is checked before anything is built: a forbidden request
	// should cost seconds, not a whole build.
	pol, err := readPolicy(ctx, c, bc)
	if err != nil {
		return nil, err
	}
	if pol != nil {
		p, err := buildkit.ParseSigningPolicy(ctx, pol.Name, pol.data)
		if err != nil {
			return nil, err
		}
		if err := req.CheckPolicy(p); err != nil {
			return nil, err
		}
		req.Policy = &pol.File
	}

	res, err := builder.Build(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := attach(ctx, c, res, req); err != nil {
		return nil, err
	}
	return res, nil
}

// attach adds the sign-request attestation to every platform of res. The
// predicate is one file in a scratch ref, which every platform's
// attestation points at (an attestation's content cannot be sent through
// the gateway as bytes, only as a ref and a path).
func attach(ctx context.Context, c gwclient.Client, res *gwclient.Result, req *buildkit.SignRequest) error {
	ps, err := exptypes.ParsePlatforms(res.Metadata)
	if err != nil {
		return fmt.Errorf("reading the platforms of the build result: %w", err)
	}
	predicate, err := req.Predicate()
	if err != nil {
		return err
	}
	def, err := llb.Scratch().File(llb.Mkfile(requestPath, 0o644, predicate), llb.WithCustomName("[signet] sign request")).Marshal(ctx)
	if err != nil {
		return fmt.Errorf("marshalling the sign request: %w", err)
	}
	r, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return fmt.Errorf("solving the sign request: %w", err)
	}
	ref, err := r.SingleRef()
	if err != nil {
		return fmt.Errorf("solving the sign request: %w", err)
	}
	for _, p := range ps.Platforms {
		res.AddAttestation(p.ID, gwclient.Attestation{
			Kind:   gwpb.AttestationKind_InToto,
			Ref:    ref,
			Path:   requestPath,
			InToto: result.InTotoAttestation{PredicateType: buildkit.SignRequestPredicate},
		})
	}
	return nil
}

// policySource is a policy's bytes and where they came from.
type policySource struct {
	buildkit.File
	data []byte
}

// readPolicy returns the policy given to the build, or nil: the build arg
// SIGNET_POLICY, or a file of the named context signet-policy.
func readPolicy(ctx context.Context, c gwclient.Client, bc *dockerui.Client) (*policySource, error) {
	inline := bc.BuildArgs[buildkit.ArgPolicy]
	nc, err := bc.NamedContext(buildkit.PolicyContext, dockerui.ContextOpt{NoDockerignore: true})
	if err != nil {
		return nil, fmt.Errorf("reading build context %s: %w", buildkit.PolicyContext, err)
	}
	switch {
	case inline != "" && nc != nil:
		return nil, fmt.Errorf("a signing policy is given twice, as build-arg:%s and as build context %s: give one", buildkit.ArgPolicy, buildkit.PolicyContext)
	case inline != "":
		return &policySource{File: buildkit.FileOf("build-arg:"+buildkit.ArgPolicy, []byte(inline)), data: []byte(inline)}, nil
	case nc == nil:
		if f := bc.BuildArgs[buildkit.ArgPolicyFile]; f != "" {
			return nil, &buildkit.IntentError{Where: "build-arg:" + buildkit.ArgPolicyFile, Msg: fmt.Sprintf("names %s, but no build context %s was given", f, buildkit.PolicyContext)}
		}
		return nil, nil
	}
	st, _, err := nc.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading build context %s: %w", buildkit.PolicyContext, err)
	}
	if st == nil {
		return nil, fmt.Errorf("build context %s is empty", buildkit.PolicyContext)
	}
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, fmt.Errorf("marshalling build context %s: %w", buildkit.PolicyContext, err)
	}
	r, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, fmt.Errorf("loading build context %s: %w", buildkit.PolicyContext, err)
	}
	ref, err := r.SingleRef()
	if err != nil {
		return nil, fmt.Errorf("loading build context %s: %w", buildkit.PolicyContext, err)
	}
	names := policyFiles
	if f := bc.BuildArgs[buildkit.ArgPolicyFile]; f != "" {
		names = []string{f}
	}
	var firstErr error
	for _, n := range names {
		data, err := dockerui.ReadFile(ctx, ref, n)
		if err == nil {
			return &policySource{File: buildkit.FileOf(buildkit.PolicyContext+"/"+n, data), data: data}, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if len(names) == 1 {
		return nil, fmt.Errorf("reading %s from build context %s: %w", names[0], buildkit.PolicyContext, firstErr)
	}
	return nil, fmt.Errorf("build context %s holds none of %s (name the file with build-arg:%s): %w",
		buildkit.PolicyContext, strings.Join(names, ", "), buildkit.ArgPolicyFile, firstErr)
}
