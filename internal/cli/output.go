package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
)

// col is one table column: a header and a JSON field path ("zones.ip").
type col struct{ head, field string }

// print writes v as JSON or as a table with cols; v is a resource or a list
// ({"items": [...]}). Both are printed from v's generic JSON form, so JSON
// keys come out sorted whatever Go type v is.
func (g *globals) print(v any, cols []col) error {
	var m any
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if g.output == "json" {
		enc := json.NewEncoder(g.out)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if obj, ok := m.(map[string]any); ok {
		if items, ok := obj["items"].([]any); ok {
			heads := make([]string, len(cols))
			for i, c := range cols {
				heads[i] = c.head
			}
			fmt.Fprintln(tw, strings.Join(heads, "\t"))
			for _, it := range items {
				row := make([]string, len(cols))
				for i, c := range cols {
					row[i] = field(it, c.field)
				}
				fmt.Fprintln(tw, strings.Join(row, "\t"))
			}
			return nil
		}
		for _, c := range cols {
			fmt.Fprintf(tw, "%s:\t%s\n", c.head, field(obj, c.field))
		}
		return nil
	}
	fmt.Fprintln(tw, m)
	return nil
}

// field extracts a dotted path; arrays are joined with commas.
func field(v any, path string) string {
	parts := strings.SplitN(path, ".", 2)
	switch x := v.(type) {
	case map[string]any:
		f := x[parts[0]]
		if len(parts) == 2 {
			return field(f, parts[1])
		}
		return scalar(f)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, field(e, path))
		}
		return strings.Join(out, ",")
	}
	return ""
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, scalar(e))
		}
		return strings.Join(out, ",")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
