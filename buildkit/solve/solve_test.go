package solve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSolveOpt(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "docker")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(sub, "app.Dockerfile"), filepath.Join(dir, "policy.yaml")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := Request{
		Context:    dir,
		Dockerfile: filepath.Join(sub, "app.Dockerfile"),
		Platforms:  []string{"linux/amd64", "linux/arm64"},
		Tags:       []string{"127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:latest"},
		BuildArgs:  map[string]string{"VERSION": "1"},
		PolicyFile: filepath.Join(dir, "policy.yaml"),
		Insecure:   true,
	}
	opt, err := r.solveOpt()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"filename":                     "app.Dockerfile",
		"platform":                     "linux/amd64,linux/arm64",
		"attest:provenance":            DefaultProvenance,
		"build-arg:VERSION":            "1",
		"context:signet-policy":        "local:signet-policy",
		"build-arg:SIGNET_POLICY_FILE": "policy.yaml",
	}
	for k, v := range want {
		if opt.FrontendAttrs[k] != v {
			t.Errorf("FrontendAttrs[%q] = %q; want %q", k, opt.FrontendAttrs[k], v)
		}
	}
	if opt.Frontend != "dockerfile.v0" || len(opt.Exports) != 1 {
		t.Fatalf("Frontend %q, %d exports; want dockerfile.v0 and one", opt.Frontend, len(opt.Exports))
	}
	ex := opt.Exports[0].Attrs
	if ex["name"] != strings.Join(r.Tags, ",") || ex["push"] != "true" || ex["registry.insecure"] != "true" {
		t.Errorf("export attrs = %v", ex)
	}
	for _, m := range []string{"context", "dockerfile", "signet-policy"} {
		if opt.LocalMounts[m] == nil {
			t.Errorf("no local mount %q", m)
		}
	}

	r.Provenance, r.PolicyFile = "disabled", ""
	opt, err = r.solveOpt()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := opt.FrontendAttrs["attest:provenance"]; ok {
		t.Errorf("provenance disabled, yet attest:provenance = %q", opt.FrontendAttrs["attest:provenance"])
	}

	for name, bad := range map[string]Request{
		"no tag":          {Context: dir},
		"no Dockerfile":   {Context: dir, Tags: r.Tags},
		"missing policy":  {Context: dir, Dockerfile: r.Dockerfile, Tags: r.Tags, PolicyFile: filepath.Join(dir, "nope.yaml")},
		"missing context": {Context: filepath.Join(dir, "nope"), Dockerfile: r.Dockerfile, Tags: r.Tags},
	} {
		if _, err := bad.solveOpt(); err == nil {
			t.Errorf("%s: solveOpt() = nil error; want one", name)
		}
	}
}
