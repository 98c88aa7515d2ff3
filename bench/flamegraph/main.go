// Command flamegraph renders a CPU profile as a flame graph in SVG without
// graphviz or a browser: it reads the stack samples that `go tool pprof
// -traces` prints and writes one rectangle per (stack prefix, frame),
// widths proportional to the samples, the root at the bottom. Hovering a
// frame shows its name, time and share (an SVG <title>).
//
//	go tool pprof -traces privlink.pprof | go run ./bench/flamegraph -title "..." > flame.svg
//
// See docs/benchmarks.md (Profiles).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

type node struct {
	name     string
	value    time.Duration
	children map[string]*node
}

func (n *node) child(name string) *node {
	if n.children == nil {
		n.children = map[string]*node{}
	}
	c := n.children[name]
	if c == nil {
		c = &node{name: name}
		n.children[name] = c
	}
	return c
}

// parse reads `go tool pprof -traces` output: a header, then blocks
// separated by "-----------+---..." lines, each a sample value and its
// stack, leaf first.
func parse(r io.Reader) (*node, []string, error) {
	root := &node{name: "all"}
	var header []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var stack []string
	var val time.Duration
	inBlocks := false
	flush := func() {
		if len(stack) == 0 {
			return
		}
		n := root
		n.value += val
		for i := len(stack) - 1; i >= 0; i-- {
			n = n.child(stack[i])
			n.value += val
		}
		stack = stack[:0]
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			inBlocks = true
			continue
		}
		if !inBlocks {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "Build ID") {
				header = append(header, l)
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(stack) == 0 && len(f) >= 2 {
			d, err := time.ParseDuration(f[0])
			if err != nil {
				return nil, nil, fmt.Errorf("sample value %q: %w", f[0], err)
			}
			val = d
			stack = append(stack, strings.Join(f[1:], " "))
			continue
		}
		stack = append(stack, strings.Join(f, " "))
	}
	flush()
	return root, header, sc.Err()
}

const (
	width  = 1200.0
	frameH = 17.0
	top    = 50.0
)

func depth(n *node) int {
	d := 0
	for _, c := range n.children {
		d = max(d, depth(c))
	}
	return d + 1
}

// color: warm hues, stable per function name; system calls in red.
func color(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	if strings.Contains(name, "Syscall") || strings.HasPrefix(name, "golang.org/x/sys/unix.") {
		return fmt.Sprintf("rgb(%d,%d,%d)", 220+v%30, 60+v%50, 40+v%30)
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", 225+v%30, 120+(v>>8)%110, 40+(v>>16)%50)
}

func short(name string) string {
	name = strings.TrimPrefix(name, "github.com/privlink/privlink/internal/")
	return strings.TrimPrefix(name, "golang.org/x/sys/")
}

func render(w io.Writer, root *node, title string, header []string) {
	d := depth(root)
	height := top + float64(d)*frameH + 10
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="monospace" font-size="11">`+"\n", width+20, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="#fdfdf6"/>`+"\n")
	fmt.Fprintf(w, `<text x="10" y="18" font-size="15">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(w, `<text x="10" y="36" fill="#555">%s</text>`+"\n", html.EscapeString(strings.Join(header, " · ")))
	total := root.value
	var draw func(n *node, x float64, level int)
	draw = func(n *node, x float64, level int) {
		wd := width * float64(n.value) / float64(total)
		if wd < 0.3 {
			return
		}
		y := height - 10 - float64(level+1)*frameH
		share := 100 * float64(n.value) / float64(total)
		fmt.Fprintf(w, `<g><title>%s (%v, %.1f%%)</title><rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s" stroke="#fff" stroke-width="0.5"/>`,
			html.EscapeString(n.name), n.value, share, 10+x, y, wd, frameH-1, color(n.name))
		if label := short(n.name); wd > 30 {
			if maxc := int((wd - 6) / 6.6); len(label) > maxc {
				label = label[:max(0, maxc-2)] + ".."
			}
			fmt.Fprintf(w, `<text x="%.2f" y="%.1f">%s</text>`, 13+x, y+frameH-5, html.EscapeString(label))
		}
		fmt.Fprintln(w, "</g>")
		kids := make([]*node, 0, len(n.children))
		for _, c := range n.children {
			kids = append(kids, c)
		}
		slices.SortFunc(kids, func(a, b *node) int { return strings.Compare(a.name, b.name) })
		for _, c := range kids {
			draw(c, x, level+1)
			x += width * float64(c.value) / float64(total)
		}
	}
	draw(root, 0, 0)
	fmt.Fprintln(w, "</svg>")
}

func main() {
	title := flag.String("title", "CPU flame graph", "title line")
	flag.Parse()
	root, header, err := parse(os.Stdin)
	if err == nil && root.value == 0 {
		err = fmt.Errorf("no samples on stdin (expected `go tool pprof -traces` output)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flamegraph:", err)
		os.Exit(1)
	}
	bw := bufio.NewWriter(os.Stdout)
	render(bw, root, *title, header)
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "flamegraph:", err)
		os.Exit(1)
	}
}
