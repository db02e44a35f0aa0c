package match

import "testing"

func TestMatchersAsAlertmanager(t *testing.T) {
	lbls := map[string]string{"alertname": "HighErrors", "severity": "critical", "team": "db"}
	for _, tc := range []struct {
		name     string
		matchers []string
		want     bool
	}{
		{"equal", []string{`severity="critical"`}, true},
		{"equal unquoted", []string{`severity=critical`}, true},
		{"not equal", []string{`severity!="critical"`}, false},
		{"regexp is anchored", []string{`team=~"d"`}, false},
		{"regexp", []string{`team=~"db|web"`}, true},
		{"negative regexp", []string{`team!~"db|web"`}, false},
		{"missing label is empty", []string{`env=""`}, true},
		{"missing label negative regexp", []string{`env!~".+"`}, true},
		{"braces, all must match", []string{`{severity="critical", team="web"}`}, false},
		{"none matches everything", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Parse(tc.matchers)
			if err != nil {
				t.Fatal(err)
			}
			if got := ms.Matches(lbls); got != tc.want {
				t.Errorf("%v matches %v = %v, want %v", ms, lbls, got, tc.want)
			}
		})
	}
}

func TestParseRefusesBadMatchers(t *testing.T) {
	for _, s := range []string{`severity`, `team=~"("`, `a="b`, `=x`} {
		if _, err := Parse([]string{s}); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`a="b"`, `{a=~"x|y", b!="c"}`, `a!~".*"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := Parse([]string{s})
		if err != nil {
			return
		}
		again, err := Parse(ms.Strings())
		if err != nil {
			t.Fatalf("%q parsed to %v, which does not parse again: %v", s, ms, err)
		}
		if again.String() != ms.String() {
			t.Fatalf("%q: %v then %v", s, ms, again)
		}
	})
}
