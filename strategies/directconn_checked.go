//go:build linux && (race || msan || asan)

package strategies

// Under the race detector and the sanitizers, socket calls go through package syscall: raw ones
// would hide from them what the calls read and write, and that a write to a socket happens
// before the read that sees its bytes.
var sysRead, sysWrite = checkedRead, checkedWrite
