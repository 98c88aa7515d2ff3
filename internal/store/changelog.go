package store

import "sync"

// changeLogSize bounds the change log: a consumer more than this many
// watch responses behind compares maps instead (Changes).
const changeLogSize = 4096

// changeLog records, for the States of one list and the watch responses
// after it, which records each response changed, so that a consumer can
// learn what changed between two States in proportion to the changes
// rather than to the State (Cache.ChangesSince).
type changeLog struct {
	mu sync.Mutex
	// first is the seq of the State that recs[0] leads to; recs[i] are
	// the records changed from seq first+i-1 to first+i.
	first uint64
	recs  [][]string
}

func newChangeLog() *changeLog { return &changeLog{first: 1} }

// add records the changes from the State at seq to the next one and
// returns the next one's seq.
func (l *changeLog) add(seq uint64, recs []string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, recs)
	if len(l.recs) > changeLogSize {
		drop := len(l.recs) - changeLogSize/2
		l.recs = append([][]string(nil), l.recs[drop:]...)
		l.first += uint64(drop)
	}
	return seq + 1
}

// since returns the records changed from seq from to seq to, or false
// when the log no longer holds them all.
func (l *changeLog) since(from, to uint64) ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from > to || from+1 < l.first || to >= l.first+uint64(len(l.recs)) {
		return nil, false
	}
	var out []string
	for seq := from + 1; seq <= to; seq++ {
		out = append(out, l.recs[seq-l.first]...)
	}
	return out, true
}

// ChangesSince is Changes(from, to, only...) for two States of this
// cache, from to newer: read from the log of what each watch response
// changed when from and to descend from the same list and the log still
// holds every response between them (the last 2,048 to 4,096), so it
// costs the changes, not the State; otherwise it compares the maps. The
// result may name a record more than once, or one written again with
// the same value.
func (c *Cache) ChangesSince(from, to *State, only ...string) []string {
	return changesSince(from, to, only...)
}

// changesSince is ChangesSince for any two States, from the log the
// cache or FollowStates keeps with them when they share one.
func changesSince(from, to *State, only ...string) []string {
	if from.list != nil && from.list == to.list {
		if recs, ok := from.list.since(from.seq, to.seq); ok {
			if len(only) == 0 {
				return recs
			}
			out := recs[:0:0]
			for _, rec := range recs {
				kind, _, _ := relKind(rec)
				for _, k := range only {
					if k == kind {
						out = append(out, rec)
						break
					}
				}
			}
			return out
		}
	}
	return Changes(from, to, only...)
}
