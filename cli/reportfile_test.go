package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteReportFile: a report is replaced whole or not at all, keeps the
// permissions of the file it replaces, and a link is written through.
func TestWriteReportFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	good := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	// Large enough to get past the write buffer before failing.
	half := func(w io.Writer) error {
		if _, err := io.WriteString(w, strings.Repeat("x", 200<<10)); err != nil {
			return err
		}
		return errors.New("disk full")
	}
	entries := func() []string {
		var names []string
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	if err := writeReportFile("", half); err != nil {
		t.Errorf("no path: %v; want nothing done", err)
	}
	if err := writeReportFile(path, half); err == nil {
		t.Error("a failed write reported no error")
	}
	if names := entries(); len(names) != 0 {
		t.Errorf("a failed first write left %v", names)
	}

	if err := writeReportFile(path, good(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeReportFile(path, half); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failed write: %v; want the writer's error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"v":1}` {
		t.Errorf("after a failed write the report holds %d bytes, not the previous report", len(b))
	}
	if names := entries(); len(names) != 1 {
		t.Errorf("files beside the report after a failed write: %v", names)
	}

	if err := writeReportFile(path, good(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != `{"v":2}` || st.Mode().Perm() != 0o600 {
		t.Errorf("replaced report: %q, mode %v; want {\"v\":2}, 0600", b, st.Mode().Perm())
	}

	// Through a link the target is written and the link stays.
	target := filepath.Join(t.TempDir(), "target.json")
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := writeReportFile(link, good("linked")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "linked" {
		t.Errorf("the link's target holds %q", b)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st.Mode(), err)
	}
}

func TestCheckOutputPath(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.json")
	if err := os.WriteFile(existing, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(existing, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", filepath.Join(dir, "new.json"), existing, link, os.DevNull} {
		if err := checkOutputPath("--report", p); err != nil {
			t.Errorf("checkOutputPath(%q) = %v; want nil", p, err)
		}
	}
	for _, p := range []string{dir, filepath.Join(dir, "missing", "r.json"), filepath.Join(existing, "r.json")} {
		err := checkOutputPath("--report", p)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "--report") {
			t.Errorf("checkOutputPath(%q) = %v; want a usage error naming --report", p, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("the checks left files behind: %d entries", len(ents))
	}
}
