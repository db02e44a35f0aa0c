package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenNow is the clock of golden tests that infer a year.
var goldenNow = time.Date(2025, time.March, 15, 12, 0, 0, 0, time.UTC)

// goldenResult is one line of a golden file's input with what the parser
// made of it.
type goldenResult struct {
	Input  string `json:"input"`
	Output any    `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// runGolden feeds each line of testdata/<name>.input (blank lines and lines
// starting with "#" are skipped) to parse and compares the JSON of the
// results with testdata/<name>.golden; -update rewrites the golden file.
func runGolden(t *testing.T, name string, parse func(line string) (any, error)) {
	t.Helper()
	var results []goldenResult
	for _, line := range goldenLines(t, name) {
		out, err := parse(line)
		if m, ok := out.(map[string]any); ok && m == nil {
			out = nil // a typed nil would encode as null
		}
		r := goldenResult{Input: line, Output: out}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./parse -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the current output; if the change is intended, run go test ./parse -update and review the diff\n%s",
			path, firstDiff(string(want), buf.String()))
	}
}

// goldenLines returns the lines of testdata/<name>.input but blank lines
// and lines starting with "#".
func goldenLines(t testing.TB, name string) []string {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", name+".input"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.SplitSeq(strings.TrimSuffix(string(in), "\n"), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return ""
}

// wantSyntaxError checks a parser's error against a table test's errHas:
// with errHas, err must wrap ErrSyntax and contain it; without, err must be
// nil. It reports whether an error was wanted, when the test is done.
func wantSyntaxError(t *testing.T, err error, errHas string) bool {
	t.Helper()
	if errHas == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), errHas) {
		t.Fatalf("err = %v, want ErrSyntax containing %q", err, errHas)
	}
	return true
}

// okOrNil turns a (map, bool) result into a golden output: nil when false.
func okOrNil(m map[string]any, ok bool) any {
	if !ok {
		return nil
	}
	return m
}

func TestGolden(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		runGolden(t, "json", func(line string) (any, error) { return JSON(line, 8) })
	})
	t.Run("logfmt", func(t *testing.T) {
		runGolden(t, "logfmt", func(line string) (any, error) { return Logfmt(line) })
	})
	t.Run("grok", func(t *testing.T) {
		// Each line is "<pattern>\t<input>".
		runGolden(t, "grok", func(line string) (any, error) {
			pattern, input, _ := strings.Cut(line, "\t")
			g, err := CompileGrok(pattern, map[string]string{"KEY": `[a-z_]+`})
			if err != nil {
				return nil, err
			}
			return okOrNil(g.Parse(input)), nil
		})
	})
	t.Run("accesslog", func(t *testing.T) {
		// Each line is "<format>\t<line>".
		runGolden(t, "accesslog", func(line string) (any, error) {
			name, in, _ := strings.Cut(line, "\t")
			format, err := ParseAccessLogFormat(name)
			if err != nil {
				return nil, err
			}
			a, err := ParseAccessLog(unescapeLine(in), format)
			if err != nil {
				return nil, err
			}
			return a.Fields(), nil
		})
	})
	t.Run("syslog", func(t *testing.T) {
		opts := SyslogOptions{Now: func() time.Time { return goldenNow }}
		runGolden(t, "syslog", func(line string) (any, error) { return Syslog(unescapeLine(line), opts) })
	})
	t.Run("csv", func(t *testing.T) {
		cols := []string{"time", "level", "user", "message"}
		runGolden(t, "csv", func(line string) (any, error) { return CSV(unescapeLine(line), cols, ',') })
	})
	t.Run("kv", func(t *testing.T) {
		runGolden(t, "kv", func(line string) (any, error) { return KV(line, "", ""), nil })
	})
	t.Run("time", func(t *testing.T) {
		// Each line is "<layout>\t<value>"; a value in {} is a JSON number.
		runGolden(t, "time", func(line string) (any, error) {
			layout, value, _ := strings.Cut(line, "\t")
			var v any = value
			if n, ok := strings.CutPrefix(value, "{"); ok {
				v = json.Number(strings.TrimSuffix(n, "}"))
			}
			ts, err := timeAt(v, []string{layout}, time.FixedZone("CET", 3600), func() time.Time { return goldenNow })
			if err != nil {
				return nil, err
			}
			return ts.Format(time.RFC3339Nano), nil
		})
	})
	t.Run("useragent", func(t *testing.T) {
		runGolden(t, "useragent", func(line string) (any, error) { return UserAgent(line), nil })
	})
	t.Run("redact", func(t *testing.T) {
		r, err := NewRedactor(BuiltinRedactions(), map[string]string{"password": `(?i)password=(?P<redact>\S+)`})
		if err != nil {
			t.Fatal(err)
		}
		runGolden(t, "redact", func(line string) (any, error) {
			out, n := r.Redact(line)
			return map[string]any{"text": out, "count": n}, nil
		})
	})
}

// unescapeLine turns the two-character sequences \n and \r in a golden input
// line into line breaks, for formats whose records may hold them.
func unescapeLine(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(s)
}
