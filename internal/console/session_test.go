package console

import (
	"fmt"
	"testing"
)

// TestSessionCapPerAccount: an account's sessions beyond the cap drop its
// oldest; another account's sessions are untouched.
func TestSessionCapPerAccount(t *testing.T) {
	s := newSessions()
	other := s.create("tok-b", "b", "b", false)
	var mine []*session
	for i := 0; i < maxAccountSessions+5; i++ {
		mine = append(mine, s.create(fmt.Sprintf("tok-a%d", i), "a", "a", false))
	}
	tests := []struct {
		name string
		sess *session
		live bool
	}{
		{"the other account's", other, true},
		{"a's oldest", mine[0], false},
		{"a's fifth oldest", mine[4], false},
		{"a's oldest kept", mine[5], true},
		{"a's newest", mine[len(mine)-1], true},
	}
	for _, tt := range tests {
		if got := s.get(tt.sess.ID) != nil; got != tt.live {
			t.Errorf("%s session: live %v, want %v", tt.name, got, tt.live)
		}
	}
	n := 0
	for _, o := range s.m {
		if o.AccountID == "a" {
			n++
		}
	}
	if n != maxAccountSessions {
		t.Errorf("account a has %d sessions, want the cap %d", n, maxAccountSessions)
	}
}
