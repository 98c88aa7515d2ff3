package apiserver

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Lists page by ID: nextToken is the last ID of the previous page
// (base64), a page holds the maxResults (1-100, default 50) IDs after it,
// and TotalCount counts every item the list's filters match.
//
// A list whose items are exactly the keys of one index (the account's
// own/<account>/<kind>/ index, a VPC's or a service's endpoint index)
// reads only its page: a range of the index from the token, limited to
// the page size + 1, and those records (indexPage); its TotalCount is a
// count of the index. A list filtered by two indexes intersects their
// keys (no record read) and reads the page's records (idsPage). A list
// filtered by what only the records say (tags, a host's VPC) reads every
// candidate record, as before, and pages them (paginate).

// pageReq is a list request's maxResults and nextToken.
type pageReq struct {
	max   int
	after string // the last ID of the previous page; "": the first page
}

// parsePage reads maxResults and nextToken.
func parsePage(r *http.Request) (pageReq, error) {
	q := r.URL.Query()
	p := pageReq{max: 50}
	if s := q.Get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > api.MaxPageSize {
			return p, model.Invalid("MaxResults", "maxResults must be an integer between 1 and %d", api.MaxPageSize)
		}
		p.max = n
	}
	if tok := q.Get("nextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return p, model.Invalid("NextToken", "nextToken is not one this API returned")
		}
		p.after = string(b)
	}
	return p, nil
}

// pageToken is the nextToken of a page that ends with ID last.
func pageToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

// pageOf fills one page of records of kind from IDs in ID order: next
// returns up to n IDs after an ID and whether more follow. A record gone
// since its ID was read (or bad) is skipped and the page read further.
func pageOf[T owned](a *API, r *http.Request, kind string, p pageReq, total int, next func(after string, n int) ([]string, bool, error)) (api.List[T], error) {
	out := api.List[T]{Items: []T{}, TotalCount: total}
	after := p.after
	for len(out.Items) <= p.max {
		ids, more, err := next(after, p.max+1-len(out.Items))
		if err != nil {
			return out, err
		}
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = a.st.ResourceKey(kind, id)
		}
		recs, err := store.GetMany[T](r.Context(), a.st, keys)
		if err != nil {
			return out, err
		}
		for _, k := range keys {
			if v, ok := recs[k]; ok {
				out.Items = append(out.Items, v)
			}
		}
		if !more || len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
	}
	if len(out.Items) > p.max {
		out.Items = out.Items[:p.max]
		out.NextToken = pageToken(out.Items[p.max-1].ID())
	}
	return out, nil
}

// indexPage is one page of the records of kind whose IDs are the keys
// under index: O(page) reads, and a count of the index.
func indexPage[T owned](a *API, r *http.Request, index, kind string) (api.List[T], error) {
	p, err := parsePage(r)
	if err != nil {
		return api.List[T]{}, err
	}
	n, err := a.st.Count(r.Context(), index)
	if err != nil {
		return api.List[T]{}, err
	}
	return pageOf[T](a, r, kind, p, int(n), func(after string, n int) ([]string, bool, error) {
		return a.st.KeysAfter(r.Context(), index, after, n)
	})
}

// idsPage is one page of the records of kind with the given IDs (sorted).
func idsPage[T owned](a *API, r *http.Request, ids []string, kind string) (api.List[T], error) {
	p, err := parsePage(r)
	if err != nil {
		return api.List[T]{}, err
	}
	rest := ids[sort.Search(len(ids), func(i int) bool { return ids[i] > p.after }):]
	return pageOf[T](a, r, kind, p, len(ids), func(_ string, n int) ([]string, bool, error) {
		n = min(n, len(rest))
		got := rest[:n]
		rest = rest[n:]
		return got, len(rest) > 0, nil
	})
}

// indexIntersection is the sorted IDs that are keys under every prefix.
func (a *API) indexIntersection(r *http.Request, prefixes ...string) ([]string, error) {
	var ids []string
	for i, p := range prefixes {
		keys, err := a.st.Keys(r.Context(), p)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			ids = keys
			continue
		}
		have := make(map[string]bool, len(keys))
		for _, k := range keys {
			have[k] = true
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return !have[id] })
	}
	slices.Sort(ids)
	return ids, nil
}
