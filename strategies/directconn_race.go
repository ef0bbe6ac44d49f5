//go:build linux && race

package strategies

// Under the race detector, socket calls go through package syscall: raw ones would hide from
// the detector that a write to a socket happens before the read that sees its bytes.
var sysRead, sysWrite = checkedRead, checkedWrite
