package scripts

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestNames(t *testing.T) {
	tests := []struct {
		mode Mode
		want []string
	}{
		{CGI, []string{"c", "c-static", "go", "python", "perl", "sh", "lua", "php", "ruby"}},
		{FastCGI, []string{"c", "go", "python", "perl", "php"}},
		{Embedded, []string{"lua"}},
		{"inprocess", nil},
	}
	for _, tt := range tests {
		got := Names(tt.mode)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Names(%q) = %q; want %q", tt.mode, got, tt.want)
		}
		if len(got) > 0 {
			got[0] = "changed"
			if Names(tt.mode)[0] == "changed" {
				t.Errorf("Names(%q) returns the catalog's own slice", tt.mode)
			}
		}
	}
}

func TestSupportsWorkload(t *testing.T) {
	tests := []struct {
		program, workload string
		want              bool
	}{
		{"sh", "get", true},
		{"sh", "urlencoded", false},
		{"sh", "multipart", false},
		{"python", "multipart", true},
		{"c", "urlencoded", true},
		{"lua", "get", true},
	}
	for _, tt := range tests {
		if got := SupportsWorkload(tt.program, tt.workload); got != tt.want {
			t.Errorf("SupportsWorkload(%q, %q) = %v; want %v", tt.program, tt.workload, got, tt.want)
		}
	}
}

func TestResolveUnknown(t *testing.T) {
	c := &Catalog{CacheDir: t.TempDir()}
	for _, tt := range []struct {
		name string
		mode Mode
	}{{"sh", FastCGI}, {"cobol", CGI}, {"c", "inprocess"}, {"python", Embedded}} {
		_, err := c.Resolve(context.Background(), tt.name, tt.mode)
		if !errors.Is(err, ErrUnknownProgram) {
			t.Errorf("Resolve(%q, %q) error = %v; want ErrUnknownProgram", tt.name, tt.mode, err)
		}
	}
}

// buildLines counts the "built" lines a Catalog logged.
func buildLines(log *bytes.Buffer) int {
	return strings.Count(log.String(), "scripts: built ")
}

func needCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("cc"); err != nil {
		if requireAll() {
			t.Fatal("cc not found (CGIBENCH_REQUIRE_ALL=1); install the Debian package gcc")
		}
		t.Skip("cc not found; install the Debian package gcc")
	}
}

// TestCacheReuse checks that a built program is built once: a second Resolve, in the same
// Catalog or in a new one on the same cache (another process), finds it.
func TestCacheReuse(t *testing.T) {
	needCC(t)
	ctx := context.Background()
	dir := t.TempDir()
	var log bytes.Buffer
	c := &Catalog{CacheDir: dir, Log: &log}
	p1, err := c.Resolve(ctx, "c", CGI)
	if err != nil {
		t.Fatal(err)
	}
	if n := buildLines(&log); n != 1 {
		t.Fatalf("first Resolve logged %d builds; want 1:\n%s", n, log.String())
	}
	st1, err := os.Stat(p1.Path)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Name != "c" || !strings.HasPrefix(p1.Path, dir) || p1.Dir != filepath.Dir(p1.Path) {
		t.Errorf("Resolve(c) = %+v; want Name c and a binary in %s", p1, dir)
	}

	p2, err := c.Resolve(ctx, "c", CGI)
	if err != nil {
		t.Fatal(err)
	}
	var log2 bytes.Buffer
	p3, err := (&Catalog{CacheDir: dir, Log: &log2}).Resolve(ctx, "c", CGI)
	if err != nil {
		t.Fatal(err)
	}
	if n := buildLines(&log) + buildLines(&log2); n != 1 {
		t.Errorf("three Resolves logged %d builds; want 1:\n%s%s", n, log.String(), log2.String())
	}
	st3, err := os.Stat(p3.Path)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Path != p1.Path || p3.Path != p1.Path || !st3.ModTime().Equal(st1.ModTime()) {
		t.Errorf("paths %s, %s, %s (mtimes %v, %v); want one binary, untouched", p1.Path, p2.Path, p3.Path,
			st1.ModTime(), st3.ModTime())
	}
}

// TestRebuildOnSourceChange builds app.c, then an edited copy: the edit gets its own binary.
func TestRebuildOnSourceChange(t *testing.T) {
	needCC(t)
	ctx := context.Background()
	dir := t.TempDir()
	src, err := fs.ReadFile(sources, "c/app.c")
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	orig := &Catalog{CacheDir: dir, Log: &log}
	p1, err := orig.Resolve(ctx, "c", CGI)
	if err != nil {
		t.Fatal(err)
	}
	edited := &Catalog{CacheDir: dir, Log: &log,
		fsys: fstest.MapFS{"c/app.c": {Data: append(src, "\n/* edited */\n"...)}}}
	p2, err := edited.Resolve(ctx, "c", CGI)
	if err != nil {
		t.Fatal(err)
	}
	if n := buildLines(&log); n != 2 {
		t.Errorf("logged %d builds; want 2 (one per source):\n%s", n, log.String())
	}
	if p1.Path == p2.Path {
		t.Errorf("the edited source resolved to the same binary %s", p1.Path)
	}
	for _, p := range []string{p1.Path, p2.Path} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	src2, err := os.ReadFile(filepath.Join(edited.root, "scripts", "c", "app.c"))
	if err != nil || !bytes.HasSuffix(src2, []byte("/* edited */\n")) {
		t.Errorf("extracted source of the edited catalog: %v, %q", err, src2[max(0, len(src2)-20):])
	}
}

// TestConcurrentBuilds resolves the same program from several Catalogs at once, as parallel
// test processes sharing a cache do: each gets a complete binary at the same path.
func TestConcurrentBuilds(t *testing.T) {
	needCC(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	paths := make([]string, 3)
	errs := make([]error, 3)
	for i := range paths {
		wg.Go(func() {
			p, err := (&Catalog{CacheDir: dir}).Resolve(context.Background(), "c", CGI)
			paths[i], errs[i] = p.Path, err
		})
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if paths[i] != paths[0] {
			t.Errorf("paths %q; want one", paths)
		}
	}
	out, err := exec.Command(paths[0]).Output()
	if err != nil || !bytes.Contains(out, []byte("\n\nmethod=\n")) {
		t.Errorf("running %s: %v, %q", paths[0], err, out)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "bin", "*.tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// TestUnavailable resolves with nothing installed: every program but the embedded one is an
// *UnavailableError naming the Debian package to install.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	c := &Catalog{CacheDir: t.TempDir(),
		lookPath: func(file string) (string, error) { return "", &exec.Error{Name: file, Err: exec.ErrNotFound} }}
	wantPkg := map[string]string{
		"c": "gcc", "c-static": "gcc", "go": "golang-go", "python": "python3", "perl": "perl",
		"sh": "dash", "lua": "lua5.4", "php": "php-cgi", "ruby": "ruby",
	}
	ok, missing := c.Available(ctx, CGI)
	if len(ok) != 0 || len(missing) != len(Names(CGI)) {
		t.Fatalf("Available(cgi) = %d programs, %d unavailable; want 0, %d", len(ok), len(missing), len(Names(CGI)))
	}
	for i, un := range missing {
		if un.Name != Names(CGI)[i] || un.Mode != CGI || un.Package != wantPkg[un.Name] || un.Reason == "" {
			t.Errorf("unavailable %d = %+v; want Name %s, Mode cgi, Package %s and a reason",
				i, un, Names(CGI)[i], wantPkg[Names(CGI)[i]])
		}
	}
	_, err := c.Resolve(ctx, "lua", CGI)
	const want = `scripts: program "lua" (cgi) unavailable: lua5.4 not found; install the Debian package lua5.4`
	if err == nil || err.Error() != want {
		t.Errorf("Resolve(lua) error = %v; want %s", err, want)
	}
	// One failed lookup serves several programs; each error names its own.
	_, errCGI := c.Resolve(ctx, "python", CGI)
	_, errFCGI := c.Resolve(ctx, "python", FastCGI)
	var u1, u2 *UnavailableError
	if !errors.As(errCGI, &u1) || !errors.As(errFCGI, &u2) || u1.Mode != CGI || u2.Mode != FastCGI {
		t.Errorf("python errors %v, %v; want cgi and fastcgi UnavailableErrors", errCGI, errFCGI)
	}
	// The embedded Lua app needs no program on the machine.
	p, err := c.Resolve(ctx, "lua", Embedded)
	if err != nil || p.Script == "" || p.Path != "" {
		t.Errorf("Resolve(lua, embedded) = %+v, %v; want a script and no executable", p, err)
	}
}

// TestInterpreterResolution checks that a version-manager shim and symbolic links are resolved
// to the interpreter itself.
func TestInterpreterResolution(t *testing.T) {
	const python = "/usr/bin/python3"
	realPython, err := filepath.EvalSymlinks(python)
	if err != nil {
		t.Skipf("%s: %v", python, err)
	}
	lua, err := exec.LookPath("lua5.4")
	if err != nil {
		t.Skip("lua5.4 not found")
	}
	realLua, err := filepath.EvalSymlinks(lua)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	shim := "#!/bin/sh\n# a pyenv-style shim: a script that picks an interpreter, then execs it\nexec " +
		python + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lua, filepath.Join(bin, "lua5.4")); err != nil {
		t.Fatal(err)
	}
	// Only the test folder is on the "PATH"; absolute candidates such as /usr/bin/python3
	// are hidden so that the shim is what is found.
	c := &Catalog{CacheDir: t.TempDir(), lookPath: func(file string) (string, error) {
		if filepath.IsAbs(file) {
			return "", exec.ErrNotFound
		}
		return exec.LookPath(filepath.Join(bin, file))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := c.Resolve(ctx, "python", CGI)
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != realPython {
		t.Errorf("python resolved to %s; want %s, past the shim", p.Path, realPython)
	}
	if len(p.Args) != 1 || filepath.Base(p.Args[0]) != "app.py" || p.Dir != filepath.Dir(p.Args[0]) {
		t.Errorf("python program %+v; want app.py as the argument and its folder as Dir", p)
	}
	embedded, _ := fs.ReadFile(sources, "python/app.py")
	if got, err := os.ReadFile(p.Args[0]); err != nil || !bytes.Equal(got, embedded) {
		t.Errorf("extracted app.py differs from the embedded one (%v)", err)
	}
	p, err = c.Resolve(ctx, "lua", CGI)
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != realLua {
		t.Errorf("lua resolved to %s; want %s", p.Path, realLua)
	}
}

func TestPHPProgram(t *testing.T) {
	p := resolveOrSkip(t, "php", FastCGI)
	var script string
	for _, kv := range p.Env {
		if v, ok := strings.CutPrefix(kv, "SCRIPT_FILENAME="); ok {
			script = v
		}
	}
	for _, want := range []string{"REDIRECT_STATUS=200", "PHP_FCGI_CHILDREN=0", "PHP_FCGI_MAX_REQUESTS=0"} {
		if !slices.Contains(p.Env, want) {
			t.Errorf("php Env %q lacks %s", p.Env, want)
		}
	}
	if _, err := os.Stat(script); err != nil || filepath.Base(script) != "app.php" {
		t.Errorf("SCRIPT_FILENAME %q: %v", script, err)
	}
	if !slices.Contains(p.Args, "enable_post_data_reading=0") {
		t.Errorf("php Args %q; want enable_post_data_reading=0", p.Args)
	}
}

// TestResolveFastCGI builds or finds every FastCGI program (TestFastCGI runs them).
func TestResolveFastCGI(t *testing.T) {
	for _, name := range Names(FastCGI) {
		t.Run(name, func(t *testing.T) {
			p := resolveOrSkip(t, name, FastCGI)
			if p.Name != name || p.Path == "" {
				t.Errorf("Resolve(%s, fastcgi) = %+v", name, p)
			}
		})
	}
}
