//go:build linux && !race && !msan && !asan

package strategies

var sysRead, sysWrite = rawRead, rawWrite
