package vrepl

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// replicate applies the source's binlog from st.pos: each transaction's
// changes (those the copy state lets through) with the new position in
// one target transaction. With stopAt set it returns once the position
// is exactly stopAt; else it runs until ctx ends or an error.
func (s *stream) replicate(ctx context.Context, a *applier, tables map[string]*Table, st *streamState, stopAt Position) error {
	stopping := !stopAt.IsZero()
	if stopping && st.pos.AtLeast(stopAt) {
		return nil
	}
	src, err := s.e.dialSource(ctx, s.wf.SourceKeyspace, s.source, s.sourceChoice())
	if err != nil {
		return err
	}
	defer src.close()
	if !stopping {
		s.setSourceTablet(src.tablet.Alias)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	es, err := src.client.StreamEvents(ctx, &vreplicationpb.StreamEventsRequest{Position: st.pos.String(), Tables: s.filters(nil), KeyRange: s.e.kr})
	if err != nil {
		return fmt.Errorf("open binlog stream on %s: %w", src.name(), err)
	}
	if stopping {
		s.log.Info("catching up with the binlog", "from", st.pos, "to", stopAt)
	} else {
		s.log.Info("following the binlog", "from", st.pos, "source", src.name())
	}
	events := map[string]*eventTable{}
	var txOps, ready []rowOp
	// open: a large source transaction is being applied in a target
	// transaction that commits with its COMMIT event.
	open := false
	defer func() {
		if open {
			_ = a.conn.Exec("ROLLBACK")
		}
	}()
	var readyTxns int64
	var readyPos Position
	var readyAt int64
	lastSave := time.Now()
	flush := func(force bool) error {
		if readyTxns == 0 {
			return nil
		}
		if len(ready) == 0 && !force && !open && time.Since(lastSave) < s.e.cfg.PositionSaveInterval {
			// Nothing of ours in these transactions: the position may be
			// kept a while (reading them again is harmless).
			st.pos = readyPos
			s.setPos(readyPos, time.Unix(0, readyAt))
			return nil
		}
		save := fmt.Sprintf("UPDATE _mosaic.vreplication SET pos = %s, transactions = transactions + %d, time_updated = %d WHERE %s",
			sqlString(readyPos.String()), readyTxns, time.Now().UnixNano(), stateKey(s.wf.Name, s.source))
		apply := func() error {
			if err := a.applyOps(ready); err != nil {
				return err
			}
			return a.conn.Exec(save)
		}
		if open {
			// The rest of a large transaction and its position, in the
			// transaction its first parts went in.
			if err := apply(); err != nil {
				return fmt.Errorf("apply transactions up to %s: %w", readyPos, err)
			}
			if err := a.conn.Exec("COMMIT"); err != nil {
				return fmt.Errorf("apply transactions up to %s: %w", readyPos, err)
			}
			open = false
		} else if err := a.txDo(apply); err != nil {
			return fmt.Errorf("apply transactions up to %s: %w", readyPos, err)
		}
		lastSave = time.Now()
		st.pos = readyPos
		st.txns += readyTxns
		s.m.txns.Add(float64(readyTxns))
		s.applied(readyTxns, readyPos, time.Unix(0, readyAt))
		ready, readyTxns = ready[:0], 0
		return nil
	}
	for {
		resp, err := es.Recv()
		if err != nil {
			if ferr := flush(true); ferr != nil {
				return ferr
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("binlog stream on %s: %w", src.name(), grpcFatal(err))
		}
		for _, ev := range resp.Events {
			switch ev.Type {
			case vreplicationpb.EventType_FIELDS:
				t := tables[ev.Table]
				if t == nil {
					return fmt.Errorf("binlog stream sent table %s, which the stream does not carry", ev.Table)
				}
				var et *eventTable
				if r := s.lookupRule(ev.Table); r != nil {
					p, err := newLookupProj(r, t, ev.Columns)
					if err != nil {
						return err
					}
					et = &eventTable{t: t, cols: ev.Columns, lk: p}
				} else if et, err = newEventTable(t, ev.Columns); err != nil {
					return err
				}
				events[ev.Table] = et
			case vreplicationpb.EventType_ROWS:
				et := events[ev.Table]
				if et == nil {
					return fmt.Errorf("binlog stream sent rows of %s before its columns", ev.Table)
				}
				ops, err := s.changeOps(a, et, st, ev.Changes)
				if err != nil {
					return err
				}
				txOps = append(txOps, ops...)
				if len(txOps) >= s.e.cfg.LargeTransactionRows {
					// A large transaction: apply what came so far in a
					// target transaction left open until its COMMIT, after
					// the complete transactions before it.
					if !open {
						if err := flush(true); err != nil {
							return err
						}
						if err := a.conn.Exec("BEGIN"); err != nil {
							return err
						}
						open = true
					}
					if err := a.applyOps(txOps); err != nil {
						return fmt.Errorf("apply a large transaction: %w", err)
					}
					txOps = txOps[:0]
				}
			case vreplicationpb.EventType_COMMIT:
				pos, err := ParsePosition(ev.Position)
				if err != nil {
					return err
				}
				if stopping && !stopAt.AtLeast(pos) {
					return fmt.Errorf("binlog went from %s to %s, past %s, without stopping there", readyOrCurrent(readyTxns, readyPos, st.pos), pos, stopAt)
				}
				ready = append(ready, txOps...)
				txOps = txOps[:0]
				readyTxns++
				readyPos, readyAt = pos, ev.TimestampUnixNano
				if stopping && pos.AtLeast(stopAt) {
					return flush(true)
				}
			case vreplicationpb.EventType_DDL:
				if err := flush(true); err != nil {
					return err
				}
				return fatalf("DDL on table %s at position %s stops the stream (apply the same change to the targets, then restart the workflow): %s", ev.Table, ev.Position, ev.Statement)
			case vreplicationpb.EventType_HEARTBEAT:
				if readyTxns == 0 && len(txOps) == 0 {
					s.heartbeat(time.Unix(0, ev.TimestampUnixNano))
				}
			}
		}
		if err := flush(false); err != nil {
			return err
		}
	}
}

func readyOrCurrent(n int64, ready, cur Position) Position {
	if n > 0 {
		return ready
	}
	return cur
}

// changeOps turns row changes into writes, skipping rows the copy has not
// reached: the snapshot that copies them will hold these changes.
func (s *stream) changeOps(a *applier, et *eventTable, st *streamState, changes []*vreplicationpb.RowChange) ([]rowOp, error) {
	if et.lk != nil {
		// Every change applies, copied or not (lookup.go).
		return lookupChangeOps(et, changes)
	}
	mode, lastpk, err := s.copyMode(et.t, st)
	if err != nil {
		return nil, err
	}
	if mode == copySkip {
		return nil, nil
	}
	ncols := len(et.cols)
	keep := func(vals [][]byte) (bool, error) {
		if mode == copyAll {
			return true, nil
		}
		k, err := a.eventKey(et, vals)
		if err != nil {
			return false, err
		}
		return et.t.compareKeys(k, lastpk) <= 0, nil
	}
	var ops []rowOp
	for _, ch := range changes {
		var before, after [][]byte
		var err error
		if ch.Before != nil {
			if before, err = mysqlconn.RowValues(ch.Before, ncols); err != nil {
				return nil, fmt.Errorf("table %s: %w", et.t.Name, err)
			}
		}
		if ch.After != nil {
			if after, err = mysqlconn.RowValues(ch.After, ncols); err != nil {
				return nil, fmt.Errorf("table %s: %w", et.t.Name, err)
			}
		}
		// An update that keeps the key is one replace; otherwise the old
		// key goes and the new row comes.
		if before != nil && (after == nil || !samePK(et, before, after)) {
			ok, err := keep(before)
			if err != nil {
				return nil, err
			}
			if ok {
				ops = append(ops, rowOp{et: et, del: true, vals: before})
			}
		}
		if after != nil {
			ok, err := keep(after)
			if err != nil {
				return nil, err
			}
			if ok {
				ops = append(ops, rowOp{et: et, vals: after})
			}
		}
	}
	return ops, nil
}

func samePK(et *eventTable, a, b [][]byte) bool {
	for _, i := range et.pkAt {
		if string(a[i]) != string(b[i]) {
			return false
		}
	}
	return true
}

// How binlog changes of a table apply during the copy.
const (
	copyAll  = iota // copied, or not copied at all (the row stream keeps none)
	copySkip        // not reached yet
	copyUpTo        // being copied: rows up to the last copied key
)

func (s *stream) copyMode(t *Table, st *streamState) (int, pkKey, error) {
	for i, ct := range st.copy {
		if !strings.EqualFold(ct.name, t.Name) {
			continue
		}
		if i > 0 || ct.lastpk == nil {
			return copySkip, nil, nil
		}
		k, err := t.keyFromLastPK(ct.lastpk)
		if err != nil {
			return 0, nil, err
		}
		return copyUpTo, k, nil
	}
	return copyAll, nil, nil
}
