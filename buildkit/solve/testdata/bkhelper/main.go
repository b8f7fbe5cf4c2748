// Command bkhelper runs in the RUN steps of solve's integration test, whose
// image has no shell: "secret SRC DST" writes the SHA-256 of the mounted
// secret SRC to DST (the test compares it without the value ever being in
// the image), and "ssh DST" writes the public keys of the agent BuildKit
// forwards at $SSH_AUTH_SOCK, one authorized_keys line each.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bkhelper:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "secret":
		data, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		return os.WriteFile(args[2], []byte(hex.EncodeToString(sum[:])+"\n"), 0o644)
	case len(args) == 2 && args[0] == "ssh":
		conn, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
		if err != nil {
			return err
		}
		defer conn.Close()
		keys, err := agent.NewClient(conn).List()
		if err != nil {
			return err
		}
		var out []byte
		for _, k := range keys {
			pub, err := ssh.ParsePublicKey(k.Blob)
			if err != nil {
				return err
			}
			out = append(out, ssh.MarshalAuthorizedKey(pub)...)
		}
		return os.WriteFile(args[1], out, 0o644)
	}
	return fmt.Errorf("usage: bkhelper secret SRC DST | bkhelper ssh DST")
}
