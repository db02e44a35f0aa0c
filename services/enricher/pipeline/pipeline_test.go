package pipeline

import (
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestStagesGolden runs each stage's example pipeline in testdata/stages over
// its test inputs and compares the resulting events with the golden files.
func TestStagesGolden(t *testing.T) {
	geoDB := writeCityDB(t)
	files, _ := filepath.Glob("testdata/stages/*.yaml")
	if len(files) < 15 {
		t.Fatalf("only %d stage examples", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			data = []byte(strings.ReplaceAll(string(data), "{{GEOIP_DB}}", geoDB))
			p, err := Compile(f, data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				Test    string       `json:"test"`
				Event   *event.Event `json:"event,omitempty"`
				Dropped bool         `json:"dropped,omitempty"`
				Error   string       `json:"error,omitempty"`
			}
			var got []result
			for _, tc := range p.tests {
				ev, err := testEvent(tc.Input)
				if err != nil {
					t.Fatal(err)
				}
				r := result{Test: tc.Name}
				switch err := p.Process(ev); {
				case errors.Is(err, ErrDropped):
					r.Dropped = true
				case err != nil:
					r.Error = err.Error()
				default:
					r.Event = ev
				}
				got = append(got, r)
			}
			out, _ := json.MarshalIndent(got, "", "  ")
			golden := strings.TrimSuffix(f, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pipeline -update)", err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(out)) {
				t.Errorf("%s differs from the golden file:\n%s", f, out)
			}
		})
	}
}

func writeCityDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", Languages: []string{"en"}, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, network, _ := net.ParseCIDR("81.2.69.0/24")
	if err := tree.Insert(network, mmdbtype.Map{
		"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}},
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": mmdbtype.Map{"en": mmdbtype.String("United Kingdom")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(51.5), "longitude": mmdbtype.Float64(-0.09)},
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBadPipelinesAreRefusedWithFileLineAndReason loads each fixture of
// testdata/bad and checks every problem is named with its position.
func TestBadPipelinesAreRefusedWithFileLineAndReason(t *testing.T) {
	tests := map[string][]string{
		"unknown_stage.yaml": {"unknown_stage.yaml:4:", "grokk"},
		"two_types.yaml":     {"two_types.yaml:4: stages[0].drop: a stage has one type"},
		"bad_grok.yaml":      {"bad_grok.yaml:7: stages[1].grok.patterns[1]:", "NOT_A_PATTERN"},
		"bad_expr.yaml":      {"bad_expr.yaml:5: stages[0].when:", "bad_expr.yaml:9: stages[1].set.expr:"},
		"bad_fields.yaml": {
			"bad_fields.yaml:2: on_error:", "stages[0].rename.from: \"message\" is not a field path",
			"stages[1].timestamp.timezone:", "stages[2].sample.rate: 2 is outside", "stages[3].route.dataset:",
			`bad_fields.yaml:8: stages[4].access_log.format: access log: invalid option: format "nginx": use combined or common`,
			"bad_fields.yaml:9: stages[5].user_agent.cache_size: -1 is negative",
		},
		"no_stages.yaml": {"no_stages.yaml:1: stages: no stages", "no_stages.yaml:3: match.sources[0]"},
	}
	for file, wants := range tests {
		t.Run(file, func(t *testing.T) {
			_, err := LoadFiles([]string{filepath.Join("testdata", "bad", file)}, Options{})
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("err = %v, want a configuration error", err)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSelectionBySource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "name: web\nmatch: {sources: [web, 'web.*']}\nstages: [{set: {field: dataset, value: web}}]\n")
	write("b.yaml", "name: k8s\nmatch: {sources: ['k8s.>'], when: 'body != \"\"'}\nstages: [{set: {field: dataset, value: k8s}}]\n")
	write("c.yaml", "name: rest\nstages: [{set: {field: dataset, value: rest}}]\n")
	set, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{"web": "web", "web.a": "web", "web.a.b": "rest", "k8s.ns.pod": "k8s", "k8s": "rest", "other": "rest"} {
		ev := &event.Event{Source: src, Body: "x"}
		if p := set.Select(ev); p == nil || p.Name != want {
			t.Errorf("source %s: pipeline %v, want %s", src, p, want)
		}
	}
	write("d.yaml", "name: rest2\nstages: [{drop: {}}]\n")
	if _, err := LoadDir(dir, Options{}); err == nil || !strings.Contains(err.Error(), "second default pipeline") {
		t.Errorf("two default pipelines: %v", err)
	}
}

func TestSampleIsDeterministicAndNearItsRate(t *testing.T) {
	p, err := Compile("s.yaml", []byte("stages: [{sample: {rate: 0.25}}]\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for i := range 10000 {
		ev := &event.Event{ID: event.NewID("s", []byte{byte(i), byte(i >> 8)}, time.Time{})}
		first := p.Process(ev)
		if again := p.Process(ev); !errors.Is(again, first) && again != first {
			t.Fatalf("event %s sampled differently on a second run", ev.ID)
		}
		if first == nil {
			kept++
		}
	}
	if kept < 2200 || kept > 2800 {
		t.Errorf("kept %d of 10000 at rate 0.25", kept)
	}
}

func FuzzCompile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Compile("fuzz.yaml", data, Options{})
		if err != nil {
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("compile error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		for _, tc := range p.tests {
			if ev, err := testEvent(tc.Input); err == nil {
				_ = p.Process(ev)
			}
		}
	})
}
