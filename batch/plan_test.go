package batch

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestIdentity(t *testing.T) {
	const d = "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"
	tests := []struct{ ref, want string }{
		{"127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"},
		{"127.0.0.1:5000/app@" + d, "127.0.0.1:5000/app"},
		{"127.0.0.1:5000/app:v1@" + d, "127.0.0.1:5000/app:v1"},
		{"127.0.0.1:5000/team/app:1.2@" + d, "127.0.0.1:5000/team/app:1.2"},
		{"ubuntu:24.04", "index.docker.io/library/ubuntu:24.04"},
	}
	for _, tt := range tests {
		ref, err := name.ParseReference(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := Identity(ref); got != tt.want {
			t.Errorf("Identity(%q) = %q; want %q", tt.ref, got, tt.want)
		}
	}
}
