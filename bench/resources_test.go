package bench

import (
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

// TestChildMaxRSSAfterVfork records why ChildPeakRSSBytes is sampled rather than read from
// wait4: Go starts children with clone(CLONE_VM|CLONE_VFORK), and exec folds the shared (parent's)
// memory peak into the child's ru_maxrss. If a kernel stops doing that, this test fails and the
// cheaper rusage figure becomes usable.
func TestChildMaxRSSAfterVfork(t *testing.T) {
	big := make([]byte, 256<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	cmd := exec.Command("/bin/cat", "/proc/self/status")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("cannot run /bin/cat: %v", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(out)
	if m == nil {
		t.Skip("no VmHWM in /proc/self/status here")
	}
	ownKB, _ := strconv.ParseInt(string(m[1]), 10, 64)
	ruKB := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	t.Logf("cat's own peak %d KiB; its ru_maxrss %d KiB; parent touched %d MiB", ownKB, ruKB, len(big)>>20)
	if ruKB < 200<<10 || ownKB > 50<<10 {
		t.Errorf("ru_maxrss %d KiB vs the child's own VmHWM %d KiB: the kernel no longer reports the parent's peak; ChildPeakRSSBytes could use rusage", ruKB, ownKB)
	}
	_ = big[len(big)-1]
}
