package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws how far a backup or restore has come: on a terminal a
// bar redrawn in place, with rate and ETA; elsewhere a line every 10 s.
type progressBar struct {
	w        io.Writer
	tty      bool
	label    string
	start    time.Time
	lastLine time.Time
	drawn    bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty, label: label, start: time.Now()}
}

// update shows done of total bytes (total 0: unknown).
func (p *progressBar) update(done, total int64) {
	now := time.Now()
	if !p.tty && now.Sub(p.lastLine) < 10*time.Second {
		return
	}
	p.lastLine = now
	line := progressLine(p.label, done, total, now.Sub(p.start))
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

// progressLine renders one progress line.
func progressLine(label string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	mb := func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }
	if total <= 0 {
		return fmt.Sprintf("%s %s MB  %.1f MB/s  %s", label, mb(done), rate/(1<<20), elapsed.Round(time.Second))
	}
	frac := min(float64(done)/float64(total), 1)
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	eta := "?"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	} else if done >= total {
		eta = "0s"
	}
	return fmt.Sprintf("%s [%s] %3.0f%%  %s/%s MB  %.1f MB/s  ETA %s", label, bar, frac*100, mb(done), mb(total), rate/(1<<20), eta)
}
