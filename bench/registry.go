package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
	"github.com/cgibench/cgibench/strategies/embedded"
	"github.com/cgibench/cgibench/strategies/fastcgi"
	"github.com/cgibench/cgibench/strategies/inprocess"
)

// strategyEntry ties a strategy to the kind of program it runs.
type strategyEntry struct {
	strategy strategies.Strategy
	mode     scripts.Mode // "" for inprocess, which runs only the built-in Go app
}

var registry = []strategyEntry{
	{cgi.Strategy{}, scripts.CGI},
	{fastcgi.Strategy{}, scripts.FastCGI},
	{embedded.Strategy{}, scripts.Embedded},
	{inprocess.Strategy{}, ""},
}

// StrategyNames lists the strategies cgibench knows, in the order results list them.
func StrategyNames() []string {
	names := make([]string, len(registry))
	for i, e := range registry {
		names[i] = e.strategy.Name()
	}
	return names
}

func lookupStrategy(name string) (strategyEntry, error) {
	for _, e := range registry {
		if e.strategy.Name() == name {
			return e, nil
		}
	}
	return strategyEntry{}, fmt.Errorf("unknown strategy %q: choose from %s", name, strings.Join(StrategyNames(), ", "))
}

// InprocessProgram is the only program the inprocess strategy runs.
const InprocessProgram = "go"

// ErrNotApplicable marks a (strategy, program) pair that does not exist, such as sh under
// fastcgi; a planned cell with it is skipped, not failed.
var ErrNotApplicable = errors.New("not applicable")

// IsUserProgram reports whether name is a path to a program the user brings rather than a
// built-in name: it contains a slash or names an existing file.
func IsUserProgram(name string) bool {
	if strings.ContainsRune(name, '/') {
		return true
	}
	_, err := os.Stat(name)
	return err == nil
}

// ResolveProgram returns the Program a strategy runs for name: a built-in app from the catalog,
// or the user's executable (for embedded, the user's Lua script).
func ResolveProgram(ctx context.Context, cat *scripts.Catalog, strategy, name string) (strategies.Program, error) {
	e, err := lookupStrategy(strategy)
	if err != nil {
		return strategies.Program{}, err
	}
	if e.mode == "" {
		if name != "" && name != InprocessProgram {
			return strategies.Program{}, fmt.Errorf("%w: the inprocess strategy runs only the built-in %q app, not %q", ErrNotApplicable, InprocessProgram, name)
		}
		return strategies.Program{Name: InprocessProgram}, nil
	}
	if name == "" {
		return strategies.Program{}, strategies.ErrProgramRequired
	}
	if IsUserProgram(name) {
		abs, err := filepath.Abs(name)
		if err != nil {
			return strategies.Program{}, fmt.Errorf("program %s: %w", name, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return strategies.Program{}, fmt.Errorf("program %s: %w (give the path of your program or a built-in name: %s)", name, err, strings.Join(scripts.Names(e.mode), ", "))
		}
		p := strategies.Program{Name: filepath.Base(abs), Path: abs}
		if e.mode == scripts.Embedded {
			p.Path, p.Script = "", abs
		}
		return p, nil
	}
	if !slices.Contains(scripts.Names(e.mode), name) {
		if slices.Contains(allBuiltinNames(), name) {
			return strategies.Program{}, fmt.Errorf("%w: %s has no %s version (it has: %s)", ErrNotApplicable, name, strategy, strings.Join(scripts.Names(e.mode), ", "))
		}
		return strategies.Program{}, fmt.Errorf("unknown program %q: give a built-in name (%s) or the path of your program", name, strings.Join(scripts.Names(e.mode), ", "))
	}
	return cat.Resolve(ctx, name, e.mode)
}

func allBuiltinNames() []string {
	var all []string
	for _, m := range []scripts.Mode{scripts.CGI, scripts.FastCGI, scripts.Embedded} {
		for _, n := range scripts.Names(m) {
			if !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	}
	return all
}

// DefaultPrograms is the built-in programs of a strategy, for the default matrix.
func DefaultPrograms(strategy string) []string {
	e, err := lookupStrategy(strategy)
	if err != nil {
		return nil
	}
	if e.mode == "" {
		return []string{InprocessProgram}
	}
	return scripts.Names(e.mode)
}
