//go:build deps

package deps

import (
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/in-toto/in-toto-golang/in_toto"
	_ "github.com/miekg/pkcs11"
	_ "github.com/moby/buildkit/client"
	_ "github.com/moby/buildkit/frontend/dockerfile/builder"
	_ "github.com/spf13/cobra"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/scrypt"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
)
