package loadgen

import (
	"fmt"
	"io"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteIntervalLog writes res.Intervals as an HdrHistogram interval log (the .hlog format of
// HdrHistogram's HistogramLogWriter, version 1.3): one line per interval, its histogram of
// latencies in nanoseconds (corrected in an open loop), compressed. Interval start times are
// relative to a base time, the whole second before res.Start, written in the header: a log
// reader (hdrhistogram-go's HistogramLogReader, HdrHistogram's HistogramLogProcessor) turns them
// into absolute times, so that the logs of several generators driving one server line up and
// merge.
func WriteIntervalLog(w io.Writer, res *Result) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	base := res.Start.Truncate(time.Second).UnixMilli()
	lw.SetBaseTime(base)
	for _, err := range []error{
		lw.OutputLogFormatVersion(),
		lw.OutputComment(fmt.Sprintf("[cgibench loadgen: latency in ns from each request's %s, intervals of %s, measured phase from %s]",
			latencyOrigin(res), res.IntervalLength, res.Start.UTC().Format(time.RFC3339Nano))),
		lw.OutputStartTime(base),
		lw.OutputBaseTime(base),
		lw.OutputLegend(),
	} {
		if err != nil {
			return fmt.Errorf("loadgen: interval log: %w", err)
		}
	}
	for i := range res.Intervals {
		if err := lw.OutputIntervalPackedHistogram(res.Intervals[i].Histogram); err != nil {
			return fmt.Errorf("loadgen: interval log: %w", err)
		}
	}
	return nil
}

func latencyOrigin(res *Result) string {
	if res.Uncorrected != nil {
		return "intended start (open loop, corrected)"
	}
	return "send (closed loop)"
}
