package aliyun

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/model"
)

// params are a request's query and form parameters, merged (the form wins,
// as in the SDK's string-to-sign); unknown ones are ignored.
type params map[string]string

func parseParams(r *http.Request) (params, error) {
	if err := r.ParseForm(); err != nil {
		return nil, model.Errorf(http.StatusBadRequest, "InvalidParameter", "cannot parse the query string or form: %v", err)
	}
	p := params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
	for k, v := range r.PostForm {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
	return p, nil
}

// str is a parameter, "" when absent.
func (p params) str(name string) string { return p[name] }

// required is a parameter that must be present and non-empty.
func (p params) required(name string) (string, error) {
	v := strings.TrimSpace(p[name])
	if v == "" {
		return "", model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter %s is required", name)
	}
	return v, nil
}

// boolean parses true/false (absent: false).
func (p params) boolean(name string) (bool, error) {
	switch strings.ToLower(p[name]) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, model.Errorf(http.StatusBadRequest, "InvalidParameter."+name, "%s must be true or false, not %q", name, p[name])
}

// optBool is a boolean that may be absent (nil).
func (p params) optBool(name string) (*bool, error) {
	if p[name] == "" {
		return nil, nil
	}
	b, err := p.boolean(name)
	return &b, err
}

// integer parses an integer within [min, max], def when absent.
func (p params) integer(name string, def, min, max int) (int, error) {
	s := p[name]
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, model.Errorf(http.StatusBadRequest, "InvalidParameter."+name, "%s must be an integer from %d to %d, not %q", name, min, max, s)
	}
	return n, nil
}

// maxListItems bounds the index of a flattened list (Zone.N...).
const maxListItems = 100

// list reads a flattened list of scalars: name.1, name.2, ... (stopping
// at the first gap).
func (p params) list(name string) []string {
	var out []string
	for i := 1; i <= maxListItems; i++ {
		v, ok := p[fmt.Sprintf("%s.%d", name, i)]
		if !ok {
			break
		}
		out = append(out, v)
	}
	return out
}

// structs reads a flattened list of structs: name.N.field, for N from 1
// until no field of N is present. Each item maps field -> value; field
// names match case-insensitively (the SDK sends Zone.1.ip).
func (p params) structs(name string) []map[string]string {
	var out []map[string]string
	for i := 1; i <= maxListItems; i++ {
		prefix := fmt.Sprintf("%s.%d.", name, i)
		item := map[string]string{}
		for k, v := range p {
			if f, ok := strings.CutPrefix(k, prefix); ok {
				item[strings.ToLower(f)] = v
			}
		}
		if len(item) == 0 {
			break
		}
		out = append(out, item)
	}
	return out
}

// unsupported rejects a parameter privlink cannot honour when it is set
// (to anything but the values listed as harmless).
func (p params) unsupported(name, why string, harmless ...string) error {
	v := p[name]
	if v == "" {
		return nil
	}
	for _, h := range harmless {
		if strings.EqualFold(v, h) {
			return nil
		}
	}
	return model.Errorf(http.StatusBadRequest, "OperationUnsupported", "%s=%s is not supported by privlink: %s", name, v, why)
}
