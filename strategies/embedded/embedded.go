package embedded

import (
	"context"

	"github.com/cgibench/cgibench/strategies"
)

// Strategy serves a Lua app (Config.Program.Script) from interpreter states inside the server.
type Strategy struct{}

var _ strategies.Strategy = Strategy{}

// Name implements strategies.Strategy.
func (Strategy) Name() string { return "embedded" }

// Start implements strategies.Strategy: it compiles the script, builds the pool of states and
// serves them over HTTP. Closing the backend closes the states.
func (Strategy) Start(ctx context.Context, cfg strategies.Config) (strategies.Backend, error) {
	h, err := NewHandler(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b, err := strategies.ServeHandler(cfg, h, nil, h.Close)
	if err != nil {
		h.Close()
		return nil, err
	}
	return b, nil
}
