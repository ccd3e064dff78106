package bench

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits is the number of mantissa bits kept per power of two: 2^6
// buckets per octave bound the error of a percentile to about 1.6 %.
const histSubBits = 6

const histBuckets = (64 - histSubBits + 1) << histSubBits

// Histogram records durations in log-linear buckets. The zero value is
// empty and ready; it is not safe for concurrent use (each load thread
// keeps its own and they are merged at the end).
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
	min    time.Duration
}

// bucketOf maps a nanosecond count to its bucket: values below 2^subBits
// have a bucket each, larger ones share a bucket with the values that have
// the same top subBits+1 bits.
func bucketOf(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	exp := bits.Len64(v) - histSubBits - 1 // shift that keeps subBits+1 bits
	mant := v >> uint(exp)                 // in [2^subBits, 2^(subBits+1))
	return (exp+1)<<histSubBits + int(mant-1<<histSubBits)
}

// bucketUpper is the largest value a bucket holds.
func bucketUpper(b int) uint64 {
	if b < 1<<histSubBits {
		return uint64(b)
	}
	exp := b>>histSubBits - 1
	mant := uint64(b&(1<<histSubBits-1)) + 1<<histSubBits
	return (mant+1)<<uint(exp) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average recorded value.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the value below or at which a fraction q of the
// recorded values lie (the upper bound of that bucket, never above Max).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketUpper(b))
			return max(min(v, h.max), h.min)
		}
	}
	return h.max
}
