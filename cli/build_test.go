package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-project/signet/buildkit"
)

// TestAddPolicyRepository: --policy tells the frontend the repository only
// when the build declares a signing intent; on its own SIGNET_REPOSITORY
// would be one, and the frontend would record a sign request the
// Dockerfile never made.
func TestAddPolicyRepository(t *testing.T) {
	tag, err := name.NewTag("127.0.0.1:5000/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	const plain = "FROM scratch\nCOPY a /a\n"
	for _, tt := range []struct {
		name       string
		dockerfile string
		args       map[string]string
		want       string // SIGNET_REPOSITORY afterwards; "" for none
	}{
		{"no intent", plain, map[string]string{"VERSION": "1"}, ""},
		{"intent in the Dockerfile", "# signet:formats=cosign\n" + plain, nil, "127.0.0.1:5000/team/app"},
		{"intent in a build arg", plain, map[string]string{buildkit.ArgFormats: "notation"}, "127.0.0.1:5000/team/app"},
		{"intent the frontend refuses", "# signet:formats=gpg\n" + plain, nil, "127.0.0.1:5000/team/app"},
		{"repository given", "# signet:formats=cosign\n" + plain, map[string]string{buildkit.ArgRepository: "reg.example/other"}, "reg.example/other"},
		{"policy file build arg alone", plain, map[string]string{buildkit.ArgPolicyFile: "policy.yaml"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			df := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(df, []byte(tt.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			args := map[string]string{}
			for k, v := range tt.args {
				args[k] = v
			}
			addPolicyRepository(args, df, tag)
			if got := args[buildkit.ArgRepository]; got != tt.want {
				t.Errorf("SIGNET_REPOSITORY = %q; want %q", got, tt.want)
			}
			// What the frontend, and signet build's fallback, make of it.
			req, _ := buildkit.ParseIntent("Dockerfile", []byte(tt.dockerfile), args)
			if tt.want == "" && req != nil {
				t.Errorf("a build without intent gets a sign request: %+v", req)
			}
		})
	}
}
