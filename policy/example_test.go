package policy_test

import (
	"context"
	"fmt"

	"github.com/signet-project/signet/policy"
)

// A signing policy gives each key the repositories and formats it may
// sign; a batch checks its whole plan before signing anything.
func Example_signing() {
	p, err := policy.Parse(context.Background(), []byte(`
apiVersion: signet.dev/v1
kind: SigningPolicy
signing:
  - name: dev
    key: "pkcs11:token=release;object=dev-key"
    scopes: ["127.0.0.1:5000/dev/*"]
    formats: [cosign]
`), "signing.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	err = p.CheckSigningPlan([]policy.SigningRequest{
		{Key: "pkcs11:token=release;object=dev-key", Repo: "127.0.0.1:5000/dev/app:v1", Formats: []string{"cosign"}},
		{Key: "pkcs11:token=release;object=dev-key", Repo: "127.0.0.1:5000/prod/app:v1", Formats: []string{"cosign"}},
	})
	fmt.Println(err)
	// Output:
	// signing policy signing.yaml forbids 1 of 2 signing requests:
	//   key pkcs11:token=release;object=dev-key may not sign 127.0.0.1:5000/prod/app: its rule "dev" (signing.yaml:5) allows only 127.0.0.1:5000/dev/*
}

// Parse reports every problem with its line.
func ExampleParse_errors() {
	_, err := policy.Parse(context.Background(), []byte(`
apiVersion: signet.dev/v1
kind: TrustPolicy
trust:
  - name: prod
    scope: ["registry.example.com/team/*"]
    level: strict
`), "trust.yaml")
	fmt.Println(err)
	// Output:
	// 3 problems:
	//   trust.yaml:5: error: rule "prod": missing scopes: list the repositories the rule covers (host/repo globs, or "*")
	//   trust.yaml:6: error: trust[0]: unknown field "scope" (known: name, scopes, level, keys, roots, identities, revoked, require); did you mean "scopes"?
	//   trust.yaml:7: error: rule "prod": level "strict": want enforce, warn or audit; did you mean "enforce"?
}
