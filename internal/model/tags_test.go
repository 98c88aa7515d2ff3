package model

import (
	"strings"
	"testing"
)

func TestValidateTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags []Tag
		code string // "" valid
	}{
		{"ok", []Tag{{"env", "prod"}, {"team", ""}}, ""},
		{"128 runes", []Tag{{strings.Repeat("é", 128), strings.Repeat("v", 128)}}, ""},
		{"129-rune key", []Tag{{strings.Repeat("k", 129), ""}}, "InvalidParameter.Tags.Key"},
		{"129-rune value", []Tag{{"k", strings.Repeat("v", 129)}}, "InvalidParameter.Tags.Value"},
		{"aliyun", []Tag{{"AliyunX", ""}}, "InvalidParameter.Tags.Key"},
		{"acs:", []Tag{{"acs:rm", ""}}, "InvalidParameter.Tags.Key"},
		{"url in key", []Tag{{"see-http://x", ""}}, "InvalidParameter.Tags.Key"},
		{"empty key", []Tag{{"", "v"}}, "InvalidParameter.Tags.Key"},
		{"newline", []Tag{{"k", "a\nb"}}, "InvalidParameter.Tags.Value"},
		{"twice", []Tag{{"k", "1"}, {"k", "2"}}, "InvalidParameter.Tags.Key"},
	} {
		err := ValidateTags("Tags", tc.tags)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code != "" && (err == nil || err.(*Error).Code != tc.code):
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
}

func TestTagSetOperations(t *testing.T) {
	have, err := WithTags([]Tag{{"b", "1"}}, []Tag{{"a", "x"}, {"b", "2"}})
	if err != nil || len(have) != 2 || have[0] != (Tag{"a", "x"}) || have[1] != (Tag{"b", "2"}) {
		t.Fatalf("WithTags: %+v %v", have, err)
	}
	var twenty []Tag
	for i := 0; i < MaxTags; i++ {
		twenty = append(twenty, Tag{Key: string(rune('a' + i))})
	}
	if _, err := WithTags(twenty, []Tag{{"z1", ""}}); err == nil || err.(*Error).Code != "QuotaExceeded.TagsPerResource" {
		t.Fatalf("21st tag: %v", err)
	}
	if _, err := WithTags(twenty, []Tag{{"a", "new"}}); err != nil {
		t.Fatalf("changing a value at the limit: %v", err)
	}
	if got := WithoutTags(have, []string{"a", "nope"}, false); len(got) != 1 || got[0].Key != "b" {
		t.Fatalf("WithoutTags: %+v", got)
	}
	if got := WithoutTags(have, nil, true); got != nil {
		t.Fatalf("WithoutTags all: %+v", got)
	}
	for _, tc := range []struct {
		want []Tag
		ok   bool
	}{{nil, true}, {[]Tag{{"a", ""}}, true}, {[]Tag{{"a", "x"}, {"b", "2"}}, true}, {[]Tag{{"a", "y"}}, false}, {[]Tag{{"c", ""}}, false}} {
		if MatchTags(have, tc.want) != tc.ok {
			t.Errorf("MatchTags(%+v) != %v", tc.want, tc.ok)
		}
	}
}
