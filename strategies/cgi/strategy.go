package cgi

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/cgibench/cgibench/strategies"
)

// Strategy starts a CGI host for a program.
type Strategy struct{}

var _ strategies.Strategy = Strategy{}

// Name implements strategies.Strategy.
func (Strategy) Name() string { return "cgi" }

// Start implements strategies.Strategy.
func (Strategy) Start(ctx context.Context, cfg strategies.Config) (strategies.Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cgi: %w", err)
	}
	cfg = cfg.Resolve()
	if err := CheckExecutable(cfg.Program.Path); err != nil {
		return nil, err
	}
	h := &Host{
		Program: cfg.Program,
		Timeout: cfg.Timeout,
		Logger:  log.New(cfg.Log, "", log.LstdFlags|log.Lmicroseconds),
	}
	return strategies.ServeHandler(cfg, h, nil, func() error {
		h.once.Do(h.init)
		if h.devNull != nil {
			h.devNull.Close()
		}
		return nil
	})
}

// CheckExecutable reports, in one line with the fix, why path cannot be exec'd.
func CheckExecutable(path string) error {
	if path == "" {
		return fmt.Errorf("cgi: %w", strategies.ErrProgramRequired)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cgi: program %s: %w (give the path of an executable or a built-in name)", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("cgi: program %s is a directory: give the path of an executable file", path)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("cgi: program %s is not executable: run chmod +x %s", path, path)
	}
	return nil
}
