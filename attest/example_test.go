package attest_test

import (
	"encoding/json"
	"fmt"

	"github.com/signet-project/signet/attest"
)

func ExampleParseSpecs() {
	specs, err := attest.ParseSpecs([]string{"provenance", "sbom.json=spdxjson"})
	if err != nil {
		panic(err)
	}
	for _, s := range specs {
		fmt.Println(s.Type, s.Provenance())
	}
	// Output:
	// https://slsa.dev/provenance/v1 true
	// https://spdx.dev/Document false
}

// BuildKit's SLSA v0.2 provenance becomes v1 in BuildKit's own v1 layout;
// what v0.2 left empty stays out.
func ExampleFromSLSA02() {
	p, err := attest.FromSLSA02([]byte(`{
		"builder": {"id": ""},
		"buildType": "https://mobyproject.org/buildkit@v1",
		"materials": [{"uri": "pkg:docker/alpine@3.20", "digest": {"sha256": "ab12"}}],
		"invocation": {"configSource": {"entryPoint": "Dockerfile"}, "parameters": {"frontend": "dockerfile.v0"}, "environment": {"platform": "linux/amd64"}},
		"metadata": {"buildInvocationID": "k3x9", "completeness": {"parameters": true, "materials": false}}
	}`))
	if err != nil {
		panic(err)
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "buildDefinition": {
	//     "buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
	//     "externalParameters": {
	//       "configSource": {
	//         "path": "Dockerfile"
	//       },
	//       "request": {
	//         "frontend": "dockerfile.v0"
	//       }
	//     },
	//     "internalParameters": {
	//       "builderPlatform": "linux/amd64"
	//     },
	//     "resolvedDependencies": [
	//       {
	//         "uri": "pkg:docker/alpine@3.20",
	//         "digest": {
	//           "sha256": "ab12"
	//         }
	//       }
	//     ]
	//   },
	//   "runDetails": {
	//     "metadata": {
	//       "buildkit_completeness": {
	//         "request": true,
	//         "resolvedDependencies": false
	//       },
	//       "invocationId": "k3x9"
	//     }
	//   }
	// }
}
