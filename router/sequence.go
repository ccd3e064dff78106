package router

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// defaultSequenceBlock is the block size when a sequence row's cache is
// below 1.
const defaultSequenceBlock = 1000

// sequences holds the gate's blocks of reserved ids, one per sequence
// table. A block is reserved with one autocommit statement on the
// sequence's shard:
//
//	UPDATE `seq` SET `next_id` = LAST_INSERT_ID(`next_id` + n) WHERE `id` = 0
//
// whose insert_id is the new next_id, so the block is [insert_id-n,
// insert_id). n is the row's cache column, read once per sequence (and at
// least the ids one statement needs). Ids are unique across gates; an id
// left in a block when a gate stops is never used.
type sequences struct {
	mu   sync.Mutex
	seqs map[string]*sequence
}

type sequence struct {
	mu        sync.Mutex
	next, end int64
	cache     int64
}

func (s *sequences) get(key string) *sequence {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqs == nil {
		s.seqs = map[string]*sequence{}
	}
	q := s.seqs[key]
	if q == nil {
		q = &sequence{}
		s.seqs[key] = q
	}
	return q
}

// reserve returns n ids from the sequence table t.
func (s *sequences) reserve(ctx context.Context, exec ShardExecutor, t *Table, n int) ([]int64, error) {
	ks := t.Keyspace
	if len(ks.Shards) == 0 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "sequence keyspace %s has no serving shard", ks.Name)
	}
	q := s.get(ks.Name + "." + t.Name)
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := make([]int64, 0, n)
	for len(ids) < n {
		if q.next < q.end {
			ids = append(ids, q.next)
			q.next++
			continue
		}
		name := quoteName(t.Name)
		if q.cache == 0 {
			res, err := exec.ExecuteAutocommit(ctx, []ShardQuery{{Keyspace: ks.Name, Shard: ks.Shards[0],
				SQL: "SELECT `cache` FROM " + name + " WHERE `id` = 0"}})
			if err != nil {
				return nil, fmt.Errorf("read cache of sequence %s: %w", t.Name, err)
			}
			if err := ensureCount(res, 1); err != nil {
				return nil, err
			}
			rows, err := decodeRows(res[0])
			if err != nil {
				return nil, err
			}
			if len(rows) != 1 || len(rows[0]) != 1 {
				return nil, sqlerr.New(sqlerr.ERUnknown, "sequence table %s.%s has no row with id 0", ks.Name, t.Name)
			}
			c, _ := strconv.ParseInt(string(rows[0][0]), 10, 64)
			if c < 1 {
				c = defaultSequenceBlock
			}
			q.cache = c
		}
		block := max(q.cache, int64(n-len(ids)))
		res, err := exec.ExecuteAutocommit(ctx, []ShardQuery{{Keyspace: ks.Name, Shard: ks.Shards[0],
			SQL: "UPDATE " + name + " SET `next_id` = LAST_INSERT_ID(`next_id` + " + strconv.FormatInt(block, 10) + ") WHERE `id` = 0"}})
		if err != nil {
			return nil, fmt.Errorf("reserve ids from sequence %s: %w", t.Name, err)
		}
		if err := ensureCount(res, 1); err != nil {
			return nil, err
		}
		if res[0].RowsAffected != 1 || res[0].InsertId == 0 {
			return nil, sqlerr.New(sqlerr.ERUnknown, "sequence table %s.%s has no row with id 0", ks.Name, t.Name)
		}
		q.end = int64(res[0].InsertId)
		q.next = q.end - block
	}
	return ids, nil
}

func quoteName(s string) string {
	b := []byte{'`'}
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			b = append(b, '`')
		}
		b = append(b, s[i])
	}
	return string(append(b, '`'))
}

var _ = sqltypes.AppendSQL
