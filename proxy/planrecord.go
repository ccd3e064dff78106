package proxy

import (
	"time"

	"github.com/mosaicdb/mosaic/router"
)

// recordPlan counts a finished statement in its plan's stats, which
// /debug/status reports as the busiest plans.
func recordPlan(stats *router.PlanStats, s *Session, start time.Time, err error) {
	if stats == nil {
		return
	}
	rows := s.FoundRows
	if s.RowCount >= 0 {
		rows = uint64(s.RowCount)
	}
	stats.Record(time.Since(start), rows, err != nil)
}
