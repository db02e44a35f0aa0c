package app_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
)

// TestExampleConfigListsEveryKeyWithItsDefault checks jetlog.example.yaml
// against the configuration structs in both directions: a key the example
// has that no struct reads fails the strict decoding, a key a struct has
// that the example lacks fails the walk over every leaf, and a value that
// differs from the default fails the comparison.
func TestExampleConfigListsEveryKeyWithItsDefault(t *testing.T) {
	t.Chdir("../../..") // the example's pipelines_dir is relative to the repository
	const file = "jetlog.example.yaml"
	cfg := app.NewConfig()
	if err := cfg.Load(config.Source{File: file}); err != nil {
		t.Fatalf("%s does not load: %v", file, err)
	}
	// Compared in their YAML form, where an empty list and no list agree.
	got, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := app.NewConfig().Marshal()
	if string(got) != string(want) {
		t.Errorf("%s differs from the defaults:\n%s", file, lineDiff(string(got), string(want)))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	leaves := config.Leaves(host.Type(app.Options()))
	if len(leaves) < 50 {
		t.Fatalf("only %d keys found in the configuration type: the walk is broken", len(leaves))
	}
	for _, path := range leaves {
		if !config.HasPath(&root, path) {
			t.Errorf("%s lacks %s (list every key with its default and a comment)", file, path)
		}
	}
}

// lineDiff lists the lines where a (the file) and b (the code) differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d: file %q, defaults %q", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}
