//go:build linux && !race

package strategies

var sysRead, sysWrite = rawRead, rawWrite
