// Package inprocess is the upper bound among strategies: the reference app's Go implementation
// served as an http.Handler by the same HTTP server every other handler-based strategy uses, so
// no process is started and no protocol is spoken between server and app.
package inprocess

import (
	"context"
	"fmt"

	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
)

// Strategy serves refapp.Handler. It ignores Config.Program: the only program it runs is "go".
type Strategy struct{}

var _ strategies.Strategy = Strategy{}

// Name implements strategies.Strategy.
func (Strategy) Name() string { return "inprocess" }

// Start implements strategies.Strategy.
func (Strategy) Start(ctx context.Context, cfg strategies.Config) (strategies.Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("inprocess: %w", err)
	}
	return strategies.ServeHandler(cfg, refapp.Handler(), nil, nil)
}
