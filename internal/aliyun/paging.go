package aliyun

import (
	"encoding/base64"
	"net/http"
	"sort"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// tokenPage is one NextToken/MaxResults page (PrivateLink) of items sorted
// by key: MaxResults is clamped to 100 as Alibaba does (default 50).
func tokenPage[T any](p params, items []T, key func(T) string) (page []T, next string, max int, err error) {
	max, err = p.integer("MaxResults", 50, 1, 1<<30)
	if err != nil {
		return nil, "", 0, err
	}
	if max > api.MaxPageSize {
		max = api.MaxPageSize
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		b, derr := base64.RawURLEncoding.DecodeString(tok)
		if derr != nil {
			return nil, "", 0, model.Errorf(http.StatusBadRequest, "InvalidParameter.NextToken", "NextToken is not one this API returned")
		}
		after := string(b)
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	page = items[start:]
	if len(page) > max {
		page = page[:max]
		next = base64.RawURLEncoding.EncodeToString([]byte(key(page[max-1])))
	}
	return page, next, max, nil
}

// numberPage is one PageNumber/PageSize page (VPC, ECS): PageSize 1 to 50
// (default 10), PageNumber from 1.
func numberPage[T any](p params, items []T, key func(T) string) (page []T, number, size int, err error) {
	if number, err = p.integer("PageNumber", 1, 1, 1<<30); err != nil {
		return nil, 0, 0, err
	}
	if size, err = p.integer("PageSize", 10, 1, 50); err != nil {
		return nil, 0, 0, err
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := (number - 1) * size
	if start >= len(items) {
		return []T{}, number, size, nil
	}
	end := min(start+size, len(items))
	return items[start:end], number, size, nil
}

// ownerID is an account ID as the SDK's int64 OwnerId fields carry it.
func ownerID(account string) int64 {
	var n int64
	for _, c := range account {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
