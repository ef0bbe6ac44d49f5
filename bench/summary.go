package bench

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// hdrV2CompressedEncoding is the encoding cells store: hdrhistogram-go's compressed V2.
const hdrV2CompressedEncoding = hdrhistogram.V2CompressedEncodingCookieBase

// Summarize returns the percentiles of a latency histogram in nanoseconds. Percentiles are
// read from the merged histogram, never averaged.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  h.ValueAtQuantile(50),
		P90:  h.ValueAtQuantile(90),
		P99:  h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9),
		Max:  h.Max(),
		Mean: h.Mean(),
	}
}

// DecodeHistogram decodes a cell's Histogram field.
func DecodeHistogram(enc string) (*hdrhistogram.Histogram, error) {
	return hdrhistogram.Decode([]byte(enc))
}

// EncodeHistogram encodes a histogram for a cell's Histogram field.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrV2CompressedEncoding)
	return string(b), err
}
