package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// userHZ is the unit of CPU times in /proc/PID/stat on Linux.
const userHZ = 100

// tickNS converts clock ticks to nanoseconds.
const tickNS = int64(time.Second) / userHZ

// descendants lists pid and every process below it, from /proc/PID/task/TID/children.
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(out[i]) + "/task")
		if err != nil {
			continue
		}
		for _, t := range tasks {
			data, err := os.ReadFile("/proc/" + strconv.Itoa(out[i]) + "/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// cpuSnapshot is the CPU the backend tree has used so far.
type cpuSnapshot struct {
	live   int64 // utime+stime of the live processes of the tree
	reaped int64 // cutime+cstime of the root: children it has waited for
}

func treeCPU(fs procfs.FS, root int) cpuSnapshot {
	var s cpuSnapshot
	for _, pid := range descendants(root) {
		p, err := fs.Proc(pid)
		if err != nil {
			continue
		}
		st, err := p.Stat()
		if err != nil {
			continue
		}
		s.live += int64(st.UTime+st.STime) * tickNS
		if pid == root {
			s.reaped += int64(st.CUTime+st.CSTime) * tickNS
		}
	}
	return s
}

// memSample is the memory of the tree at one instant.
type memSample struct {
	rss, pss int64
	childRSS int64 // the largest RSS of one process below the root
}

func treeMem(fs procfs.FS, root int, withPSS bool) memSample {
	var m memSample
	for _, pid := range descendants(root) {
		p, err := fs.Proc(pid)
		if err != nil {
			continue
		}
		if st, err := p.Stat(); err == nil {
			m.rss += int64(st.ResidentMemory())
			if pid != root {
				m.childRSS = max(m.childRSS, int64(st.ResidentMemory()))
			}
		}
		if withPSS {
			if r, err := p.ProcSMapsRollup(); err == nil {
				m.pss += int64(r.Pss)
			}
		}
	}
	return m
}

// sampler samples a process tree's memory at an interval until stopped.
type sampler struct {
	stop chan struct{}
	done chan struct{}

	mu              sync.Mutex
	n               int
	peakRSS, sumRSS int64
	peakPSS, sumPSS int64
	peakChild       int64
	pssOK           bool
}

// SampleInterval is how often the backend tree's memory is sampled.
const SampleInterval = 100 * time.Millisecond

func startSampler(ctx context.Context, fs procfs.FS, root int) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	// PSS needs smaps_rollup (Linux 4.14+) and read access; find out once.
	if p, err := fs.Proc(root); err == nil {
		_, err := p.ProcSMapsRollup()
		s.pssOK = err == nil
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(SampleInterval)
		defer t.Stop()
		for {
			s.take(fs, root)
			select {
			case <-t.C:
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *sampler) take(fs procfs.FS, root int) {
	m := treeMem(fs, root, s.pssOK)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.sumRSS += m.rss
	s.sumPSS += m.pss
	s.peakRSS = max(s.peakRSS, m.rss)
	s.peakPSS = max(s.peakPSS, m.pss)
	s.peakChild = max(s.peakChild, m.childRSS)
}

func (s *sampler) finish(r *Resources) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Samples = s.n
	r.PeakRSSBytes = s.peakRSS
	r.PeakPSSBytes = s.peakPSS
	r.ChildPeakRSSBytes = s.peakChild
	if s.n > 0 {
		r.MeanRSSBytes = s.sumRSS / int64(s.n)
		r.MeanPSSBytes = s.sumPSS / int64(s.n)
	}
}

// selfCPU is the user+system CPU this process has used, in nanoseconds.
func selfCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
