package sampledb

import (
	"strings"
	"testing"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		in      string
		want    User
		wantErr string
	}{
		{in: "acct1:admin:accountadmin=secret", want: User{"acct1", "admin", "accountadmin", "secret"}},
		{in: "acct1#admin#accountadmin=secret", want: User{"acct1", "admin", "accountadmin", "secret"}},
		{in: "acct1%3Aadmin%3Aaccountadmin=secret", want: User{"acct1", "admin", "accountadmin", "secret"}},
		{in: "acct1:admin=secret", want: User{"acct1", "admin", DefaultRole, "secret"}},
		{in: "root=pw", want: User{DefaultAccount, "root", DefaultRole, "pw"}},
		{in: "a:b:c=p=w:#x", want: User{"a", "b", "c", "p=w:#x"}},
		{in: "a:b:c=", want: User{"a", "b", "c", ""}},
		{in: "acct1:admin:accountadmin", wantErr: "missing"},
		{in: "=secret", wantErr: "empty name"},
		{in: ":admin:r=pw", wantErr: "empty account"},
		{in: "acct::r=pw", wantErr: "empty user"},
		{in: "acct:admin:=pw", wantErr: "empty role"},
		{in: "a:b:c:d=pw", wantErr: "too many"},
		{in: "a:b#c=pw", wantErr: "mixes"},
		{in: "a%3Ab%23c=pw", wantErr: "mixes"},
		{in: "a%zz:b=pw", wantErr: "URL escape"},
		{in: "a b:c=pw", wantErr: "whitespace"},
		{in: "a:b\x00:c=pw", wantErr: "control"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseUser(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseUser(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseUser(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestReadUsers(t *testing.T) {
	in := "# demo users\n\n  acct1:admin:accountadmin=secret  \n\t# indented comment\nacct2#reader=pw#1\n"
	got, err := ReadUsers(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []User{{"acct1", "admin", "accountadmin", "secret"}, {"acct2", "reader", DefaultRole, "pw#1"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ReadUsers = %+v, want %+v", got, want)
	}
	_, err = ReadUsers(strings.NewReader("ok:user=pw\nbroken\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("ReadUsers(bad) error = %v, want one naming line 2", err)
	}
}

func TestLookupLogin(t *testing.T) {
	ut, err := newUserTable(testUsers, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		login string
		want  string // account:name, "" for no match
	}{
		{"acct1:admin:accountadmin", "acct1:admin"},
		{"acct1#admin#accountadmin", "acct1:admin"},
		{"acct1%3Aadmin%3Aaccountadmin", "acct1:admin"},
		{"acct1%3aadmin", "acct1:admin"},
		{"acct1:admin", "acct1:admin"},
		{"acct2#reader#public", "acct2:reader"},
		{"acct1:admin:public", ""},
		{"ACCT1:admin:accountadmin", ""},
		{"admin", ""},
		{"", ""},
		{"acct1:admin:accountadmin:x", ""},
	}
	for _, tc := range tests {
		u, ok := ut.lookup(tc.login)
		got := ""
		if ok {
			got = u.Account + ":" + u.Name
		}
		if got != tc.want {
			t.Errorf("lookup(%q) = %q, want %q", tc.login, got, tc.want)
		}
	}
}

func FuzzParseUser(f *testing.F) {
	for _, seed := range []string{
		"acct1:admin:accountadmin=secret",
		"acct1#admin#accountadmin=secret",
		"acct1%3Aadmin%3Aaccountadmin=secret",
		"acct1:admin=secret",
		"root=",
		"a:b:c=p=w:#x",
		"a%zz:b=pw",
		"a:b#c=pw",
		"::=",
		"%",
		"a%3A%3Ab=x",
		"\x00:\xff=\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUser(s)
		if err != nil {
			if u != (User{}) {
				t.Fatalf("ParseUser(%q) returned %+v with error %v", s, u, err)
			}
			return
		}
		if u.Account == "" || u.Name == "" || u.Role == "" {
			t.Fatalf("ParseUser(%q) = %+v: empty name part", s, u)
		}
		for _, p := range []string{u.Account, u.Name, u.Role} {
			if strings.ContainsAny(p, ":#") {
				t.Fatalf("ParseUser(%q) = %+v: separator left in a part", s, u)
			}
		}
		// The canonical login name must authenticate as the same user.
		ut, err := newUserTable([]User{u}, nil)
		if err != nil {
			t.Fatalf("newUserTable(%+v): %v", u, err)
		}
		if strings.Contains(u.LoginName(), "%") {
			return // would be URL-unescaped again
		}
		if got, ok := ut.lookup(u.LoginName()); !ok || got != u {
			t.Fatalf("lookup(%q) = %+v, %v; want %+v", u.LoginName(), got, ok, u)
		}
		if again, err := ParseUser(u.LoginName() + "=" + u.Password); err != nil || again != u {
			t.Fatalf("round trip of %+v = %+v, %v", u, again, err)
		}
	})
}
