//go:build linux

package proxy

import "testing"

// TestBudgetFromLimit: the budget is the descriptor limit less the reserve
// (at most a quarter of it) and the engine's idle pipes.
func TestBudgetFromLimit(t *testing.T) {
	pipes := engineLoops() * freePipes * 2
	for _, tc := range []struct{ nofile, reserve, want int }{
		{1 << 20, DefaultReserveFDs, 1<<20 - 1024 - pipes},
		{4096, DefaultReserveFDs, 4096 - 1024 - pipes},
		{2048, DefaultReserveFDs, 2048 - 512 - pipes},
		{2048, 0, 2048 - pipes},
	} {
		if got := budgetFDs(tc.nofile, tc.reserve); got != tc.want {
			t.Errorf("budgetFDs(%d, %d) = %d, want %d", tc.nofile, tc.reserve, got, tc.want)
		}
	}
	b, err := BudgetFromRlimit(DefaultReserveFDs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this process: budget %d descriptors, %d connections per endpoint", b.FDs(), b.EndpointCap())
}
