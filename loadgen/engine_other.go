//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"time"
)

// execute needs epoll: the engine runs on Linux only (as does the rest of cgibench).
func execute(context.Context, *plan) ([]loopResult, time.Time, bool, error) {
	return nil, time.Time{}, false, errors.New("loadgen: the load generator runs on Linux only (epoll)")
}
