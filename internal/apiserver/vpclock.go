package apiserver

import (
	"hash/maphash"
	"sync"
)

// stripedLock orders this API server's endpoint creates in one VPC. Each
// create rewrites its VPC (the quota guard, see parentVPC) and so commits
// only if no other create in that VPC committed meanwhile: N creates at
// once in one VPC lose N−1 of every round of optimistic retries, each loss
// re-reading and re-counting the VPC's endpoints, and under load some ran
// out of retries (409 Conflict.Concurrent at 8 creates in flight in a VPC
// of 5,000 endpoints). Taking the VPC's stripe first makes them queue in
// this process instead; creates through other API servers still meet in
// the store's retries. 64 stripes: unrelated VPCs rarely share one, and
// sharing only orders them.
type stripedLock struct {
	seed    maphash.Seed
	once    sync.Once
	stripes [64]sync.Mutex
}

// lock takes key's stripe and returns its unlock.
func (l *stripedLock) lock(key string) (unlock func()) {
	l.once.Do(func() { l.seed = maphash.MakeSeed() })
	m := &l.stripes[maphash.String(l.seed, key)%uint64(len(l.stripes))]
	m.Lock()
	return m.Unlock
}
