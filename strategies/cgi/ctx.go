package cgi

import (
	"context"
	"net/http"
)

type redirectDepthKey struct{}

func withDepth(r *http.Request, depth int) context.Context {
	return context.WithValue(r.Context(), redirectDepthKey{}, depth)
}
