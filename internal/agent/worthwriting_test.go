package agent

import (
	"testing"

	"github.com/privlink/privlink/internal/traffic"
)

// TestWorthWriting: which traffic reports an agent writes. Backend health
// keys as healthKey makes them: "?" unchecked, "+" healthy, "-" not.
func TestWorthWriting(t *testing.T) {
	seen := func(conns, active int64, health string) shown {
		return shown{counts: traffic.Sample{Conns: conns, Active: active, BytesIn: 3 * conns}, health: health}
	}
	for _, c := range []struct {
		name      string
		idle, had bool
		prev, cur shown
		want      bool
	}{
		{"written, quiet since", false, true, seen(5, 0, "a+"), seen(5, 0, "a+"), false},
		{"written, idle day, quiet since", true, true, seen(0, 0, "a+"), seen(0, 0, "a+"), false},
		{"written, new connections", false, true, seen(5, 0, "a+"), seen(6, 0, "a+"), true},
		{"written, connections open", false, true, seen(5, 2, "a+"), seen(5, 2, "a+"), true},
		{"written, health changed", false, true, seen(5, 0, "a+"), seen(5, 0, "a-"), true},
		{"written unchecked, now checked", true, true, seen(0, 0, "a?"), seen(0, 0, "a+"), true},
		{"none, traffic in the day", false, false, shown{}, seen(5, 0, "a?"), true},
		{"none, idle, unchecked", true, false, shown{}, seen(0, 0, "a?b?"), false},
		{"none, idle, one checked healthy", true, false, shown{}, seen(0, 0, "a?b+"), true},
		{"none, idle, one checked unhealthy", true, false, shown{}, seen(0, 0, "a-b?"), true},
		{"none, idle, no backends", true, false, shown{}, seen(0, 0, ""), false},
	} {
		if got := worthWriting(c.idle, c.had, c.prev, c.cur); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
