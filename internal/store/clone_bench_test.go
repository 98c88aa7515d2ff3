package store

import (
	"fmt"
	"testing"

	"github.com/privlink/privlink/internal/model"
)

// BenchmarkStateCopy is what the cache spends per watch response on
// copying the State at 10,000 endpoints (one report each): "all" copies
// every map (clone, before), "one kind" only the reports' (cloneKinds).
//
//	go test -run '^$' -bench BenchmarkStateCopy ./internal/store/
func BenchmarkStateCopy(b *testing.B) {
	st := newState()
	for i := range 10000 {
		id := fmt.Sprintf("ep-%05d", i)
		st.Endpoints[id] = &model.Endpoint{EndpointID: id}
		st.Reports["zh/"+id] = &model.ZoneReport{EndpointID: id, ZoneID: "zh"}
		st.VSwitches[fmt.Sprintf("vsw-%d", i/200)] = &model.VSwitch{}
	}
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			_ = st.clone()
		}
	})
	b.Run("one-kind", func(b *testing.B) {
		touched := map[string]bool{KindReport: true}
		for b.Loop() {
			_ = st.cloneKinds(touched)
		}
	})
}
