// Package metrics writes Prometheus' text exposition format (version
// 0.0.4) for node_exporter's textfile collector: a file that appears
// under its final name only when complete.
//
//	var s metrics.Set
//	s.Gauge("mailkeep_last_success_timestamp_seconds", "...", t, "account", "work", "job", "nightly")
//	metrics.WriteFile("/var/lib/node_exporter/mailkeep.prom", &s)
//	    // temp file in the same directory, write, fsync, chmod 644, rename, fsync the directory
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Types of metric families.
const (
	Gauge   = "gauge"
	Counter = "counter"
)

// Label is one name="value" pair.
type Label struct{ Name, Value string }

// Sample is one line: the family's name, labels, a value.
type Sample struct {
	Labels []Label
	Value  float64
}

// Family is metrics of one name with their HELP and TYPE.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Set collects families in the order they are first added; samples keep
// the order they are added in. The zero Set is ready to use.
type Set struct {
	fams  []*Family
	index map[string]*Family
}

// Gauge adds a gauge sample; labels are name, value pairs.
func (s *Set) Gauge(name, help string, v float64, labels ...string) {
	s.add(name, help, Gauge, v, labels)
}

// Counter adds a counter sample; labels are name, value pairs.
func (s *Set) Counter(name, help string, v float64, labels ...string) {
	s.add(name, help, Counter, v, labels)
}

func (s *Set) add(name, help, typ string, v float64, kv []string) {
	if s.index == nil {
		s.index = map[string]*Family{}
	}
	f := s.index[name]
	if f == nil {
		f = &Family{Name: name, Help: help, Type: typ}
		s.index[name] = f
		s.fams = append(s.fams, f)
	}
	var ls []Label
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, Label{kv[i], kv[i+1]})
	}
	if len(kv)%2 == 1 {
		ls = append(ls, Label{kv[len(kv)-1], ""})
	}
	f.Samples = append(f.Samples, Sample{Labels: ls, Value: v})
}

// Families returns the collected families.
func (s *Set) Families() []*Family { return s.fams }

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Write writes the set in the text format. It refuses invalid metric or
// label names rather than write a file the collector would reject whole.
func Write(w io.Writer, s *Set) error {
	bw := bufio.NewWriter(w)
	for _, f := range s.Families() {
		if !metricName.MatchString(f.Name) {
			return fmt.Errorf("metrics: invalid metric name %q", f.Name)
		}
		if f.Help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", f.Name, escapeHelp(f.Help))
		}
		if f.Type != "" {
			fmt.Fprintf(bw, "# TYPE %s %s\n", f.Name, f.Type)
		}
		for _, smp := range f.Samples {
			bw.WriteString(f.Name)
			if len(smp.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range smp.Labels {
					if !labelName.MatchString(l.Name) || strings.HasPrefix(l.Name, "__") {
						return fmt.Errorf("metrics: %s: invalid label name %q", f.Name, l.Name)
					}
					if i > 0 {
						bw.WriteByte(',')
					}
					fmt.Fprintf(bw, "%s=\"%s\"", l.Name, escapeLabel(l.Value))
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(formatValue(smp.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// escapeHelp: in HELP, backslash and line feed are escaped.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeLabel: in label values, backslash, double quote and line feed.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// WriteFile writes the set to path atomically: a temporary file in the
// same directory (named so the textfile collector, which reads *.prom,
// ignores it), synced, made readable by others (node_exporter usually
// runs as another user), renamed over path, and the directory synced. A
// reader sees the old file or the new one, never a part.
func WriteFile(path string, s *Set) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = Write(f, s); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // the rename itself durable; not fatal where unsupported
		d.Close()
	}
	return nil
}
