package solve

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/sshforward"
	"golang.org/x/crypto/ssh"
)

func TestSolveOpt(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
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
	if len(opt.Session) == 0 {
		t.Error("the solve offers no session attachables: buildkitd would pull and push without credentials")
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

func TestParseSecret(t *testing.T) {
	t.Setenv("SIGNET_TEST_TOKEN", "s3cr3t-value")
	t.Setenv("tok", "from-env")
	os.Unsetenv("SIGNET_TEST_UNSET")
	for _, tt := range []struct {
		in   string
		want Secret
	}{
		{"id=npmrc,src=/home/u/.npmrc", Secret{ID: "npmrc", File: "/home/u/.npmrc"}},
		{"id=npmrc,source=/home/u/.npmrc,type=file", Secret{ID: "npmrc", File: "/home/u/.npmrc"}},
		{"id=token,env=SIGNET_TEST_TOKEN", Secret{ID: "token", Env: "SIGNET_TEST_TOKEN"}},
		{"type=env,id=token,src=SIGNET_TEST_TOKEN", Secret{ID: "token", Env: "SIGNET_TEST_TOKEN"}},
		{"id=tok", Secret{ID: "tok", Env: "tok"}},
		{"id=tok,type=file", Secret{ID: "tok", File: "tok"}},
		{"id=cfg", Secret{ID: "cfg", File: "cfg"}},
		{`"id=a,b",src=/x`, Secret{ID: "a,b", File: "/x"}},
	} {
		got, err := ParseSecret(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSecret(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"src=/x", "no id="},
		{"id=x,src=/x,env=SIGNET_TEST_TOKEN", "both a file and a variable"},
		{"id=x,env=SIGNET_TEST_UNSET", "variable SIGNET_TEST_UNSET is not set"},
		{"id=x,type=raw", "type must be file or env"},
		{"id=x,hunter2", `without "="`},
		{"id=x,value=hunter2", `unknown field "value"`},
		{`id="x`, "want id=ID"},
	} {
		_, err := ParseSecret(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSecret(%q) = %v; want an error with %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseSecret(%q) error quotes the value: %v", tt.in, err)
		}
	}
}

func TestParseSSH(t *testing.T) {
	for in, want := range map[string]SSH{
		"default":                      {ID: "default"},
		"default=/run/agent.sock":      {ID: "default", Paths: []string{"/run/agent.sock"}},
		"github=/home/u/.ssh/a,/k/b":   {ID: "github", Paths: []string{"/home/u/.ssh/a", "/k/b"}},
		"deploy=/home/u/.ssh/id_25519": {ID: "deploy", Paths: []string{"/home/u/.ssh/id_25519"}},
	} {
		got, err := ParseSSH(in)
		if err != nil || got.ID != want.ID || strings.Join(got.Paths, "|") != strings.Join(want.Paths, "|") {
			t.Errorf("ParseSSH(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "=/x", "default=", "default=/a,,/b"} {
		if _, err := ParseSSH(in); err == nil {
			t.Errorf("ParseSSH(%q) = nil error; want one", in)
		}
	}
}

// TestSession checks what the solve's session offers buildkitd: the docker
// config's credentials, the secrets and the SSH agents, asked the way
// buildkitd asks them over the session.
func TestSession(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "docker")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := `{"auths":{"127.0.0.1:5999":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("builder:pa55word")) + `"}}}`
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfgDir)
	secretFile := filepath.Join(dir, "npmrc")
	if err := os.WriteFile(secretFile, []byte("file-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNET_TEST_TOKEN", "env-secret")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	r := Request{
		Secrets: []Secret{{ID: "npmrc", File: secretFile}, {ID: "token", Env: "SIGNET_TEST_TOKEN"}},
		SSH:     []SSH{{ID: "deploy", Paths: []string{keyFile}}},
	}
	atts, err := r.session()
	if err != nil {
		t.Fatal(err)
	}
	var (
		authSrv    auth.AuthServer
		secretsSrv secrets.SecretsServer
		sshSrv     sshforward.SSHServer
	)
	for _, a := range atts {
		if s, ok := a.(auth.AuthServer); ok {
			authSrv = s
		}
		if s, ok := a.(secrets.SecretsServer); ok {
			secretsSrv = s
		}
		if s, ok := a.(sshforward.SSHServer); ok {
			sshSrv = s
		}
	}
	if authSrv == nil || secretsSrv == nil || sshSrv == nil || len(atts) != 3 {
		t.Fatalf("session has %d attachables (auth %v, secrets %v, ssh %v); want the three providers", len(atts), authSrv != nil, secretsSrv != nil, sshSrv != nil)
	}
	creds, err := authSrv.Credentials(ctx, &auth.CredentialsRequest{Host: "127.0.0.1:5999"})
	if err != nil || creds.Username != "builder" || creds.Secret != "pa55word" {
		t.Errorf("credentials for 127.0.0.1:5999 = %v, %v; want builder's from the docker config", creds, err)
	}
	if creds, err := authSrv.Credentials(ctx, &auth.CredentialsRequest{Host: "other.example"}); err != nil || creds.Username != "" || creds.Secret != "" {
		t.Errorf("credentials for a host the config does not name = %v, %v; want none", creds, err)
	}
	for id, want := range map[string]string{"npmrc": "file-secret", "token": "env-secret"} {
		resp, err := secretsSrv.GetSecret(ctx, &secrets.GetSecretRequest{ID: id})
		if err != nil || string(resp.GetData()) != want {
			t.Errorf("secret %s = %q, %v; want %q", id, resp.GetData(), err, want)
		}
	}
	if _, err := secretsSrv.GetSecret(ctx, &secrets.GetSecretRequest{ID: "nope"}); err == nil {
		t.Error("an unknown secret was served")
	}
	if _, err := sshSrv.CheckAgent(ctx, &sshforward.CheckAgentRequest{ID: "deploy"}); err != nil {
		t.Errorf("ssh agent deploy: %v", err)
	}
	if _, err := sshSrv.CheckAgent(ctx, &sshforward.CheckAgentRequest{ID: "default"}); err == nil {
		t.Error("ssh agent default is offered though only deploy was given")
	}

	// Without secrets or SSH only the credentials are offered.
	if atts, err := (&Request{}).session(); err != nil || len(atts) != 1 {
		t.Errorf("session of a plain build = %d attachables, %v; want the auth provider alone", len(atts), err)
	}
	for name, bad := range map[string]Request{
		"duplicate secret": {Secrets: []Secret{{ID: "a", File: secretFile}, {ID: "a", File: secretFile}}},
		"missing file":     {Secrets: []Secret{{ID: "a", File: filepath.Join(dir, "nope")}}},
		"no source":        {Secrets: []Secret{{ID: "a"}}},
		"missing ssh key":  {SSH: []SSH{{ID: "default", Paths: []string{filepath.Join(dir, "nope")}}}},
	} {
		if _, err := bad.session(); err == nil {
			t.Errorf("%s: session() = nil error; want one", name)
		}
	}
	// A docker config signet cannot read fails the build rather than
	// sending it out without credentials.
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Request{}).session(); err == nil || !strings.Contains(err.Error(), "registry credentials") {
		t.Errorf("session() with a broken docker config = %v; want an error about the credentials", err)
	}
}
