package model

import (
	"regexp"
	"slices"
	"strings"
)

// Tag limits, as Alibaba Cloud's.
const (
	MaxTags        = 20  // tags per resource
	MaxTagKeyLen   = 128 // characters of a key
	MaxTagValueLen = 128 // characters of a value
)

// Tag is one key/value label of a resource.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tagging is the tags and resource group of a resource (VPCs, vSwitches,
// security groups, services, endpoints). An empty ResourceGroupID is the
// account's default resource group.
type Tagging struct {
	Tags            []Tag  `json:"tags,omitempty"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

// TagState returns the resource's tags and resource group for changes.
func (t *Tagging) TagState() *Tagging { return t }

var rgRE = regexp.MustCompile(`^rg-[A-Za-z0-9]{1,64}$`)

// ValidateResourceGroupID checks a resource group ID (rg- and 1-64 letters
// or digits); empty is the default group.
func ValidateResourceGroupID(field, s string) error {
	if s != "" && !rgRE.MatchString(s) {
		return Invalid(field, "resource group ID %q must be rg- followed by 1-64 letters or digits", s)
	}
	return nil
}

// ValidateTagKey checks one tag key.
func ValidateTagKey(field, k string) error {
	switch {
	case k == "":
		return Invalid(field, "a tag key must not be empty")
	case len([]rune(k)) > MaxTagKeyLen:
		return Invalid(field, "tag key %.20q... is longer than %d characters", k, MaxTagKeyLen)
	case reservedTagKey(k):
		return Invalid(field, "tag key %q must not start with aliyun or acs: (reserved)", k)
	case strings.ContainsAny(k, "\x00\n\r") || strings.Contains(strings.ToLower(k), "http://") || strings.Contains(strings.ToLower(k), "https://"):
		return Invalid(field, "tag key %q must not contain control characters, http:// or https://", k)
	}
	return nil
}

func reservedTagKey(k string) bool {
	l := strings.ToLower(k)
	return strings.HasPrefix(l, "aliyun") || strings.HasPrefix(l, "acs:")
}

// ValidateTags checks a list of tags: valid keys, values of at most 128
// characters, no key twice, at most MaxTags.
func ValidateTags(field string, tags []Tag) error {
	if len(tags) > MaxTags {
		return Errorf(400, "QuotaExceeded.TagsPerResource", "a resource has at most %d tags; %d given", MaxTags, len(tags))
	}
	for i, t := range tags {
		if err := ValidateTagKey(field+".Key", t.Key); err != nil {
			return err
		}
		if len([]rune(t.Value)) > MaxTagValueLen || strings.ContainsAny(t.Value, "\x00\n\r") {
			return Invalid(field+".Value", "the value of tag %q must be at most %d characters without control characters", t.Key, MaxTagValueLen)
		}
		if slices.ContainsFunc(tags[:i], func(o Tag) bool { return o.Key == t.Key }) {
			return Invalid(field+".Key", "tag key %q is given twice", t.Key)
		}
	}
	return nil
}

// WithTags returns have with add set (a key present gets the new value),
// sorted by key; more than MaxTags in all is refused.
func WithTags(have, add []Tag) ([]Tag, error) {
	out := slices.Clone(have)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, Errorf(400, "QuotaExceeded.TagsPerResource", "a resource has at most %d tags; this would make %d", MaxTags, len(out))
	}
	slices.SortFunc(out, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// WithoutTags returns have without the keys (all: without any tag).
func WithoutTags(have []Tag, keys []string, all bool) []Tag {
	if all {
		return nil
	}
	out := slices.DeleteFunc(slices.Clone(have), func(t Tag) bool { return slices.Contains(keys, t.Key) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// MatchTags reports whether have carries every tag of want; a wanted tag
// with an empty value matches any value of its key.
func MatchTags(have, want []Tag) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h Tag) bool { return h.Key == w.Key && (w.Value == "" || h.Value == w.Value) }) {
			return false
		}
	}
	return true
}

// ParseTag parses the CLI's and the filters' KEY=VALUE (or KEY: any value).
func ParseTag(s string) Tag {
	k, v, _ := strings.Cut(s, "=")
	return Tag{Key: k, Value: v}
}
