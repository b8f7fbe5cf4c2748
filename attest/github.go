package attest

import (
	"fmt"
	"net/url"
	"strings"
)

// GitHubBuildType is the build type of GitHub Actions workflow runs. Its
// parameter layout (externalParameters.workflow{ref, repository, path},
// internalParameters.github{…}, the source commit as a git+ dependency) is
// what GitHub's own build provenance attestations use, so policies written
// for those read signet's too.
const GitHubBuildType = "https://actions.github.io/buildtypes/workflow/v1"

// GitHubProvenance returns what the GitHub Actions environment says about
// the run, read through getenv (os.Getenv in production): the workflow and
// repository, the source commit, the runner, and the run's identity. Only
// variables that are set contribute; it returns nil outside Actions.
//
// The builder id is the workflow file at its ref (GITHUB_WORKFLOW_REF under
// GITHUB_SERVER_URL). For a reusable workflow that is the calling workflow:
// the called one's ref is only in the OIDC token, which signet does not
// read.
func GitHubProvenance(getenv func(string) string) *Provenance {
	server := strings.TrimSuffix(getenv("GITHUB_SERVER_URL"), "/")
	repo := getenv("GITHUB_REPOSITORY")
	sha := getenv("GITHUB_SHA")
	ref := getenv("GITHUB_REF")
	workflowRef := getenv("GITHUB_WORKFLOW_REF")
	runID := getenv("GITHUB_RUN_ID")
	attempt := getenv("GITHUB_RUN_ATTEMPT")

	p := &Provenance{}
	bd, rd := &p.BuildDefinition, &p.RunDetails

	workflow := map[string]any{}
	if workflowRef != "" {
		// "owner/repo/.github/workflows/build.yml@refs/heads/main"
		file, wref, _ := strings.Cut(workflowRef, "@")
		if wref != "" {
			workflow["ref"] = wref
		}
		if parts := strings.SplitN(file, "/", 3); len(parts) == 3 && parts[2] != "" {
			workflow["path"] = parts[2]
		}
	}
	if server != "" && repo != "" {
		workflow["repository"] = server + "/" + repo
	}
	if len(workflow) > 0 {
		bd.BuildType = GitHubBuildType
		bd.ExternalParameters = map[string]any{"workflow": workflow}
	}

	gh := map[string]any{}
	for key, env := range map[string]string{
		"event_name":          "GITHUB_EVENT_NAME",
		"repository_id":       "GITHUB_REPOSITORY_ID",
		"repository_owner_id": "GITHUB_REPOSITORY_OWNER_ID",
		"runner_environment":  "RUNNER_ENVIRONMENT",
	} {
		if v := getenv(env); v != "" {
			gh[key] = v
		}
	}
	if len(gh) > 0 {
		bd.InternalParameters = map[string]any{"github": gh}
	}

	var src ResourceDescriptor
	if server != "" && repo != "" {
		src.URI = "git+" + server + "/" + repo
		if ref != "" {
			src.URI += "@" + ref
		}
	}
	if sha != "" {
		src.Digest = map[string]string{"gitCommit": sha}
	}
	if src.URI != "" || src.Digest != nil {
		bd.ResolvedDependencies = []ResourceDescriptor{src}
	}

	if server != "" && workflowRef != "" {
		rd.Builder.ID = server + "/" + workflowRef
	}
	if server != "" && repo != "" && runID != "" {
		rd.Metadata.InvocationID = server + "/" + repo + "/actions/runs/" + runID
		if attempt != "" {
			rd.Metadata.InvocationID += "/attempts/" + attempt
		}
	}
	if p.IsZero() {
		return nil
	}
	return p
}

// Overrides are provenance facts given explicitly (signet's --builder-id,
// --build-type, --source-uri, --source-digest flags). They win over what
// BuildKit recorded and what the environment says.
type Overrides struct {
	// BuildType replaces the build type.
	BuildType string
	// BuilderID replaces runDetails.builder.id.
	BuilderID string
	// SourceURI and SourceDigest add the source as a resolved dependency
	// (e.g. "git+https://example.com/app@refs/tags/v1" with
	// {"gitCommit": "…"}).
	SourceURI    string
	SourceDigest map[string]string
}

// Validate rejects values a verifier could not use: build types and builder
// ids must be absolute URIs, and digests need an algorithm and a value.
func (o Overrides) Validate() error {
	for flag, v := range map[string]string{"build type": o.BuildType, "builder id": o.BuilderID, "source URI": o.SourceURI} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" {
			return fmt.Errorf("%s %q is not an absolute URI", flag, v)
		}
	}
	for alg, v := range o.SourceDigest {
		if alg == "" || v == "" {
			return fmt.Errorf("source digest %q:%q has an empty algorithm or value", alg, v)
		}
	}
	return nil
}

// Provenance returns the overrides as a provenance layer for Merge.
func (o Overrides) Provenance() *Provenance {
	p := &Provenance{}
	p.BuildDefinition.BuildType = o.BuildType
	p.RunDetails.Builder.ID = o.BuilderID
	if o.SourceURI != "" || len(o.SourceDigest) > 0 {
		p.BuildDefinition.ResolvedDependencies = []ResourceDescriptor{resource(o.SourceURI, o.SourceDigest)}
	}
	if p.IsZero() {
		return nil
	}
	return p
}

// ParseDigestSet parses a digest set as flags take it: ALG:VALUE pairs
// separated by commas, e.g. "gitCommit:4f1c…" or "sha256:ab…,sha1:cd…".
// The algorithm is required: a bare hex string does not say whether it is
// a Git commit, a tree or a file hash.
func ParseDigestSet(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		alg, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || alg == "" || v == "" {
			return nil, fmt.Errorf("digest %q: want ALG:VALUE, e.g. gitCommit:<sha> or sha256:<hex>", part)
		}
		if _, dup := out[alg]; dup {
			return nil, fmt.Errorf("digest %q: algorithm %s given twice", s, alg)
		}
		out[alg] = v
	}
	return out, nil
}
