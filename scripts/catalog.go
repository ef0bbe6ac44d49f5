package scripts

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// sources holds every reference app. The Go programs are extracted with a generated go.mod so
// that their import paths (github.com/cgibench/cgibench/scripts/go/refapp) resolve.
//
//go:embed c/app.c python/app.py python/fcgi_app.py perl/app.pl perl/fcgi_app.pl sh/app.sh
//go:embed lua/app.lua lua/cgi.lua php/app.php ruby/app.rb
//go:embed go/cgi/*.go go/fcgi/*.go go/refapp/*.go
var sources embed.FS

// Mode is the way a strategy runs a program.
type Mode string

// The modes of the built-in programs.
const (
	CGI      Mode = "cgi"      // a process per request
	FastCGI  Mode = "fastcgi"  // a persistent FastCGI responder accepting on fd 0
	Embedded Mode = "embedded" // a script an interpreter inside the server loads (Program.Script)
)

var names = map[Mode][]string{
	CGI:      {"c", "c-static", "go", "python", "perl", "sh", "lua", "php", "ruby"},
	FastCGI:  {"c", "go", "python", "perl", "php"},
	Embedded: {"lua"},
}

// Names lists the built-in program names for a mode in a fixed order (nil for an unknown mode).
func Names(mode Mode) []string {
	return slices.Clone(names[mode])
}

// SupportsWorkload reports whether a built-in program handles a workload ("get", "urlencoded",
// "multipart"): false only for sh with the POST workloads, since the sh app reads no body.
func SupportsWorkload(program, workload string) bool {
	return program != "sh" || (workload != "urlencoded" && workload != "multipart")
}

// ErrUnknownProgram is returned (wrapped) by Resolve for a name that is not a built-in program
// of the mode.
var ErrUnknownProgram = errors.New("not a built-in program")

// UnavailableError says that a built-in program cannot be had on this machine, and what to
// install so that it can.
type UnavailableError struct {
	Name    string
	Mode    Mode
	Reason  string // e.g. "lua5.4 not found"
	Package string // the Debian package that provides what is missing, e.g. "lua5.4"; may be empty
	err     error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("scripts: program %q (%s) unavailable: %s", e.Name, e.Mode, e.Reason)
	if e.Package != "" {
		msg += "; install the Debian package " + e.Package
	}
	return msg
}

// Unwrap returns the underlying error, if any (a failed build, a lookup error).
func (e *UnavailableError) Unwrap() error { return e.err }

// Catalog resolves built-in names to runnable programs. The zero value is ready to use; a
// Catalog must not be copied after first use.
type Catalog struct {
	// CacheDir holds extracted sources and built binaries; default $CGIBENCH_CACHE, else
	// os.UserCacheDir()/cgibench.
	CacheDir string
	// Log receives one line per build (may be nil).
	Log io.Writer

	mu sync.Mutex
	// fsys replaces the embedded sources (tests); nil means the embedded ones.
	fsys fs.FS
	// lookPath finds an executable by name or checks an absolute path; nil means exec.LookPath.
	lookPath func(string) (string, error)
	root     string            // the extracted source tree, once extracted
	tools    map[string]tool   // resolved interpreters and compilers by key
	toolErrs map[string]error  // and the lookups that failed
	checks   map[string]error  // results of one-off checks (Perl's FCGI module)
	idents   map[string]string // compiler identities by path and arguments
}

// tool is a resolved executable.
type tool struct {
	run  string // what to exec
	real string // the file it is, symlinks followed
}

// Resolve returns the program for a built-in name and mode, extracting sources and building
// as needed. If the program cannot be had here it returns an *UnavailableError.
func (c *Catalog) Resolve(ctx context.Context, name string, mode Mode) (strategies.Program, error) {
	if !slices.Contains(names[mode], name) {
		return strategies.Program{}, fmt.Errorf("scripts: %q (%s): %w (built-in: %s)",
			name, mode, ErrUnknownProgram, strings.Join(names[mode], ", "))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.resolve(ctx, name, mode)
	if err != nil {
		var un *UnavailableError
		if errors.As(err, &un) {
			// Lookup failures are remembered and shared by several programs: name a copy.
			named := *un
			named.Name, named.Mode = name, mode
			return strategies.Program{}, &named
		}
		return strategies.Program{}, err
	}
	p.Name = name
	return p, nil
}

// Available resolves every name of the mode; it returns those available and why the others
// are not (a failure other than a missing tool, such as a build error, is reported the same
// way, with no package).
func (c *Catalog) Available(ctx context.Context, mode Mode) ([]strategies.Program, []*UnavailableError) {
	var ok []strategies.Program
	var missing []*UnavailableError
	for _, name := range names[mode] {
		p, err := c.Resolve(ctx, name, mode)
		var un *UnavailableError
		switch {
		case err == nil:
			ok = append(ok, p)
		case errors.As(err, &un):
			missing = append(missing, un)
		default:
			missing = append(missing, &UnavailableError{Name: name, Mode: mode,
				Reason: strings.TrimPrefix(err.Error(), "scripts: "), err: err})
		}
	}
	return ok, missing
}

func (c *Catalog) resolve(ctx context.Context, name string, mode Mode) (strategies.Program, error) {
	root, err := c.extract()
	if err != nil {
		return strategies.Program{}, err
	}
	src := func(rel string) string { return filepath.Join(root, "scripts", filepath.FromSlash(rel)) }
	script := func(t tool, rel string) strategies.Program {
		s := src(rel)
		return strategies.Program{Path: t.run, Args: []string{s}, Dir: filepath.Dir(s)}
	}
	switch {
	case mode == Embedded && name == "lua":
		s := src("lua/app.lua")
		return strategies.Program{Script: s, Dir: filepath.Dir(s)}, nil
	case name == "c" || name == "c-static":
		flags := []string{"-O2"}
		var libs []string
		if name == "c-static" {
			flags = append(flags, "-static")
		}
		if mode == FastCGI {
			flags = append(flags, "-DCGIBENCH_FASTCGI")
			libs = []string{"-lfcgi"}
		}
		bin, err := c.buildC(ctx, name+"-"+string(mode), src("c/app.c"), flags, libs)
		if err != nil {
			return strategies.Program{}, err
		}
		return strategies.Program{Path: bin, Dir: filepath.Dir(bin)}, nil
	case name == "go":
		pkg := "./scripts/go/cgi"
		if mode == FastCGI {
			pkg = "./scripts/go/fcgi"
		}
		bin, err := c.buildGo(ctx, "go-"+string(mode), root, pkg)
		if err != nil {
			return strategies.Program{}, err
		}
		return strategies.Program{Path: bin, Dir: filepath.Dir(bin)}, nil
	case name == "python":
		t, err := c.interpreter(ctx, pythonSpec)
		if err != nil {
			return strategies.Program{}, err
		}
		if mode == FastCGI {
			return script(t, "python/fcgi_app.py"), nil
		}
		return script(t, "python/app.py"), nil
	case name == "perl":
		t, err := c.interpreter(ctx, perlSpec)
		if err != nil {
			return strategies.Program{}, err
		}
		if mode == FastCGI {
			if err := c.check(ctx, "perl-fcgi", t.run, "-MFCGI", "-e", "1"); err != nil {
				return strategies.Program{}, &UnavailableError{
					Reason: "the Perl module FCGI cannot be loaded", Package: "libfcgi-perl", err: err}
			}
			return script(t, "perl/fcgi_app.pl"), nil
		}
		return script(t, "perl/app.pl"), nil
	case name == "sh":
		t, err := c.interpreter(ctx, shSpec)
		if err != nil {
			return strategies.Program{}, err
		}
		return script(t, "sh/app.sh"), nil
	case name == "lua":
		t, err := c.interpreter(ctx, luaSpec)
		if err != nil {
			return strategies.Program{}, err
		}
		return script(t, "lua/cgi.lua"), nil
	case name == "ruby":
		t, err := c.interpreter(ctx, rubySpec)
		if err != nil {
			return strategies.Program{}, err
		}
		return script(t, "ruby/app.rb"), nil
	case name == "php":
		t, err := c.interpreter(ctx, phpSpec)
		if err != nil {
			return strategies.Program{}, err
		}
		s := src("php/app.php")
		// php-cgi finds the script in SCRIPT_FILENAME and refuses to run without
		// REDIRECT_STATUS (cgi.force_redirect). It would parse urlencoded and multipart bodies
		// itself; enable_post_data_reading=0 leaves them to the app, which reads php://input.
		// Under FastCGI, SCRIPT_FILENAME and REDIRECT_STATUS must reach php-cgi as request
		// params: the server passes Program.Env on.
		p := strategies.Program{
			Path: t.run,
			Args: []string{"-d", "expose_php=0", "-d", "enable_post_data_reading=0"},
			Env:  []string{"REDIRECT_STATUS=200", "SCRIPT_FILENAME=" + s},
			Dir:  filepath.Dir(s),
		}
		if mode == FastCGI {
			// One process, no children of its own, never exiting after N requests: the
			// fastcgi strategy manages the pool and any recycling.
			p.Env = append(p.Env, "PHP_FCGI_CHILDREN=0", "PHP_FCGI_MAX_REQUESTS=0")
		}
		return p, nil
	}
	return strategies.Program{}, fmt.Errorf("scripts: %q (%s): %w", name, mode, ErrUnknownProgram)
}

// cacheDir returns the cache folder, creating it.
func (c *Catalog) cacheDir() (string, error) {
	dir := c.CacheDir
	if dir == "" {
		dir = os.Getenv("CGIBENCH_CACHE")
	}
	if dir == "" {
		if user, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(user, "cgibench")
		} else {
			dir = filepath.Join(os.TempDir(), fmt.Sprintf("cgibench-cache-%d", os.Getuid()))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("scripts: creating the cache folder: %w", err)
	}
	return dir, nil
}

func (c *Catalog) sourceFS() fs.FS {
	if c.fsys != nil {
		return c.fsys
	}
	return sources
}

// goMod is the go.mod written beside the extracted Go sources.
const goMod = "module github.com/cgibench/cgibench\n\ngo 1.26\n"

// extract writes the sources into CACHE/src/HASH/scripts/... (with go.mod at
// CACHE/src/HASH), once per content: the folder is built under a temporary name and renamed
// into place, so a reader never sees half of it and concurrent processes do not collide.
func (c *Catalog) extract() (string, error) {
	if c.root != "" {
		return c.root, nil
	}
	files := map[string][]byte{"go.mod": []byte(goMod)}
	err := fs.WalkDir(c.sourceFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := fs.ReadFile(c.sourceFS(), p)
		files[path.Join("scripts", p)] = b
		return err
	})
	if err != nil {
		return "", fmt.Errorf("scripts: reading the embedded sources: %w", err)
	}
	h := sha256.New()
	for _, p := range sortedKeys(files) {
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(files[p]))
		h.Write(files[p])
	}
	cache, err := c.cacheDir()
	if err != nil {
		return "", err
	}
	root := filepath.Join(cache, "src", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(root); err == nil {
		c.root = root
		return root, nil
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("scripts: extracting the sources: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".extract-*")
	if err != nil {
		return "", fmt.Errorf("scripts: extracting the sources: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for p, b := range files {
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") || strings.HasSuffix(p, ".py") || strings.HasSuffix(p, ".pl") ||
			strings.HasSuffix(p, ".rb") || strings.HasSuffix(p, "cgi.lua") {
			mode = 0o755
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("scripts: extracting the sources: %w", err)
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return "", fmt.Errorf("scripts: extracting the sources: %w", err)
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		// Another process may have put the same tree in place first; that is as good.
		if _, serr := os.Stat(root); serr != nil {
			return "", fmt.Errorf("scripts: extracting the sources: %w", err)
		}
	}
	c.root = root
	return root, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// toolSpec says how to find one interpreter or compiler.
type toolSpec struct {
	key        string   // cache key
	candidates []string // absolute paths or names looked up in PATH, in order of preference
	// probe, when set, are arguments that make the interpreter print its own executable; it is
	// run when the file found is a script (a version-manager shim), to get past it.
	probe   []string
	pkg     string // Debian package
	missing string // what the reason says is not found
	// keepLinks runs the found path itself rather than the file it links to: compilers behind
	// ccache-style links pick their behaviour from argv[0].
	keepLinks bool
}

var (
	pythonSpec = toolSpec{key: "python", candidates: []string{"/usr/bin/python3", "python3"},
		probe: []string{"-c", "import sys; print(sys.executable)"}, pkg: "python3", missing: "python3"}
	perlSpec = toolSpec{key: "perl", candidates: []string{"/usr/bin/perl", "perl"},
		probe: []string{"-e", "print $^X"}, pkg: "perl", missing: "perl"}
	rubySpec = toolSpec{key: "ruby", candidates: []string{"/usr/bin/ruby", "ruby"},
		probe: []string{"-e", "print RbConfig.ruby"}, pkg: "ruby", missing: "ruby"}
	luaSpec = toolSpec{key: "lua", candidates: []string{"lua5.4", "lua5.3", "lua5.2", "lua5.1", "lua"},
		pkg: "lua5.4", missing: "lua5.4"}
	phpSpec = toolSpec{key: "php-cgi", candidates: []string{"/usr/bin/php-cgi", "php-cgi"},
		pkg: "php-cgi", missing: "php-cgi"}
	shSpec = toolSpec{key: "sh", candidates: []string{"dash", "/bin/sh"}, pkg: "dash", missing: "dash"}
	ccSpec = toolSpec{key: "cc", candidates: []string{"cc", "gcc"}, pkg: "gcc", missing: "cc",
		keepLinks: true}
)

func (c *Catalog) look(file string) (string, error) {
	if c.lookPath != nil {
		return c.lookPath(file)
	}
	return exec.LookPath(file)
}

// interpreter resolves a tool once per Catalog.
func (c *Catalog) interpreter(ctx context.Context, spec toolSpec) (tool, error) {
	if t, ok := c.tools[spec.key]; ok {
		return t, nil
	}
	if err, ok := c.toolErrs[spec.key]; ok {
		return tool{}, err
	}
	t, err := c.findTool(ctx, spec)
	if c.tools == nil {
		c.tools, c.toolErrs = map[string]tool{}, map[string]error{}
	}
	if err != nil {
		c.toolErrs[spec.key] = err
		return tool{}, err
	}
	c.tools[spec.key] = t
	return t, nil
}

func (c *Catalog) findTool(ctx context.Context, spec toolSpec) (tool, error) {
	for _, cand := range spec.candidates {
		found, err := c.look(cand)
		if err != nil {
			continue
		}
		if abs, err := filepath.Abs(found); err == nil {
			found = abs
		}
		real, err := filepath.EvalSymlinks(found)
		if err != nil {
			continue
		}
		if spec.keepLinks || filepath.Base(real) == "busybox" {
			// A multi-call binary picks its applet from argv[0]: run it by the name found.
			return tool{run: found, real: real}, nil
		}
		if spec.probe != nil && isScript(real) {
			if exe := c.probe(ctx, real, spec.probe); exe != "" {
				real = exe
			}
		}
		return tool{run: real, real: real}, nil
	}
	return tool{}, &UnavailableError{Reason: spec.missing + " not found", Package: spec.pkg}
}

// isScript reports whether the file starts with "#!", as version-manager shims do.
func isScript(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == "#!"
}

// probe asks an interpreter for its own executable; "" when that fails.
func (c *Catalog) probe(ctx context.Context, file string, args []string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, file, args...).Output()
	if err != nil {
		return ""
	}
	exe := strings.TrimSpace(string(out))
	if !filepath.IsAbs(exe) {
		return ""
	}
	real, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return ""
	}
	return real
}

// check runs a command once per Catalog and remembers whether it succeeded.
func (c *Catalog) check(ctx context.Context, key, file string, args ...string) error {
	if err, ok := c.checks[key]; ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, file, args...).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("scripts: %s %s: %w: %s", file, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	if c.checks == nil {
		c.checks = map[string]error{}
	}
	c.checks[key] = err
	return err
}

// identity describes a compiler for build keys: its real path and what it says its version
// is, so that an upgrade rebuilds.
func (c *Catalog) identity(ctx context.Context, t tool, args ...string) (string, error) {
	key := t.run + "\x00" + strings.Join(args, " ")
	if id, ok := c.idents[key]; ok {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, t.run, args...).Output()
	if err != nil {
		return "", fmt.Errorf("scripts: asking %s for its version: %w", t.run, err)
	}
	id := t.real + "\n" + string(out)
	if c.idents == nil {
		c.idents = map[string]string{}
	}
	c.idents[key] = id
	return id, nil
}

// buildC compiles app.c with the system C compiler.
func (c *Catalog) buildC(ctx context.Context, label, srcFile string, flags, libs []string) (string, error) {
	cc, err := c.interpreter(ctx, ccSpec)
	if err != nil {
		return "", err
	}
	id, err := c.identity(ctx, cc, "--version")
	if err != nil {
		return "", err
	}
	src, err := os.ReadFile(srcFile)
	if err != nil {
		return "", fmt.Errorf("scripts: %w", err)
	}
	key := hashOf(id, strings.Join(flags, " "), strings.Join(libs, " "), string(src))
	return c.build(label, key, func(out string) *exec.Cmd {
		args := append(append(slices.Clone(flags), "-o", out, srcFile), libs...)
		cmd := exec.CommandContext(ctx, cc.run, args...)
		cmd.Dir = filepath.Dir(srcFile)
		return cmd
	}, classifyC)
}

// classifyC turns a compiler failure caused by a missing system package into an
// *UnavailableError.
func classifyC(output string) *UnavailableError {
	switch {
	case strings.Contains(output, "fcgi_stdio.h") || strings.Contains(output, "-lfcgi"):
		return &UnavailableError{Reason: "the FastCGI development kit (fcgi_stdio.h, libfcgi) is missing",
			Package: "libfcgi-dev"}
	case strings.Contains(output, "cannot find -lc") || strings.Contains(output, "stdio.h: No such file"):
		return &UnavailableError{Reason: "the C library for linking (libc.a or its headers) is missing",
			Package: "libc6-dev"}
	}
	return nil
}

// goTool finds the go command: PATH first, then the toolchain this binary was built with.
func (c *Catalog) goTool() (tool, error) {
	if t, ok := c.tools["go"]; ok {
		return t, nil
	}
	found, err := c.look("go")
	if err != nil {
		goroot := runtime.GOROOT()
		if goroot == "" {
			return tool{}, &UnavailableError{Reason: "go not found", Package: "golang-go", err: err}
		}
		found = filepath.Join(goroot, "bin", "go")
		if _, serr := c.look(found); serr != nil {
			return tool{}, &UnavailableError{Reason: "go not found", Package: "golang-go", err: err}
		}
	}
	real, err := filepath.EvalSymlinks(found)
	if err != nil {
		real = found
	}
	t := tool{run: found, real: real}
	if c.tools == nil {
		c.tools, c.toolErrs = map[string]tool{}, map[string]error{}
	}
	c.tools["go"] = t
	return t, nil
}

// buildGo builds one of the Go programs from the extracted module at root.
func (c *Catalog) buildGo(ctx context.Context, label, root, pkg string) (string, error) {
	goCmd, err := c.goTool()
	if err != nil {
		return "", err
	}
	id, err := c.identity(ctx, goCmd, "version")
	if err != nil {
		return "", err
	}
	var src strings.Builder
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".go") || filepath.Base(p) == "go.mod") {
			return err
		}
		b, err := os.ReadFile(p)
		fmt.Fprintf(&src, "%s\x00%d\x00%s", strings.TrimPrefix(p, root), len(b), b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("scripts: reading the Go sources: %w", err)
	}
	key := hashOf(id, pkg, "-trimpath", src.String())
	return c.build(label, key, func(out string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, goCmd.run, "build", "-trimpath", "-buildvcs=false", "-o", out, pkg)
		cmd.Dir = root
		// The build must not depend on the caller's Go settings, nor reach the network for a
		// toolchain: a module with no dependencies, no cgo, no workspace. An empty GOFLAGS
		// would still let a `go env -w GOFLAGS=...` setting through: GOENV=off drops that file.
		cmd.Env = append(withoutEnv(os.Environ(), "GOFLAGS", "GOWORK", "CGO_ENABLED", "GOTOOLCHAIN",
			"GOOS", "GOARCH", "GOENV"),
			"GOFLAGS=", "GOENV=off", "GOWORK=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		return cmd
	}, nil)
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d\x00%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// build produces CACHE/bin/LABEL-KEY unless it exists. The command writes a temporary file
// beside it, which is renamed into place: a concurrent process either finds the finished
// binary or builds its own identical copy, and never execs a half-written one.
func (c *Catalog) build(label, key string, command func(out string) *exec.Cmd,
	classify func(output string) *UnavailableError) (string, error) {
	cache, err := c.cacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin", label+"-"+key)
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("scripts: %w", err)
	}
	// A fresh name, not a created file: an open descriptor for it could leak into a child
	// forked meanwhile and make the later exec fail with "text file busy".
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("scripts: %w", err)
	}
	tmp := bin + ".tmp-" + hex.EncodeToString(rnd[:])
	defer os.Remove(tmp)
	start := time.Now()
	cmd := command(tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if classify != nil {
			if un := classify(string(out)); un != nil {
				un.err = err
				return "", un
			}
		}
		return "", fmt.Errorf("scripts: building %s: %s: %w\n%s", label, strings.Join(cmd.Args, " "), err,
			bytes.TrimSpace(out))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("scripts: %w", err)
	}
	if c.Log != nil {
		fmt.Fprintf(c.Log, "scripts: built %s in %v: %s\n", label, time.Since(start).Round(time.Millisecond), bin)
	}
	return bin, nil
}
