package console

import (
	"html/template"
	"strconv"
	"strings"
)

var funcs = template.FuncMap{
	"statusClass": statusClass,
	"join":        strings.Join,
	"joinInts":    joinInts,
	"firstPort":   firstPort,
}

// statusClass colours a status badge: ok, wait or bad.
func statusClass(s string) string {
	switch s {
	case "Active", "Available", "Connected":
		return "ok"
	case "Creating", "Pending", "Connecting":
		return "wait"
	case "":
		return "none"
	default:
		return "bad"
	}
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, sep)
}

// firstPort is the port to show in connection examples.
func firstPort(v []int) string {
	if len(v) == 0 {
		return "<port>"
	}
	return strconv.Itoa(v[0])
}
