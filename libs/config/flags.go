package config

import (
	"flag"
	"strings"
)

// EnvPrefix is the prefix of every jetlog program's environment overrides.
const EnvPrefix = "JETLOG_"

// Flags are the configuration flags every jetlog program takes: -config,
// repeated -set path=value, and -check-config.
type Flags struct {
	File  string
	Check bool
	sets  setFlag
}

// BindFlags registers the configuration flags on fs; example is shown in
// -set's help, e.g. "consumer.batch=100".
func BindFlags(fs *flag.FlagSet, example string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.File, "config", "", "YAML configuration file")
	fs.BoolVar(&f.Check, "check-config", false, "validate the configuration and exit")
	fs.Var(&f.sets, "set", "override one setting, path=value (repeatable), e.g. -set "+example)
	return f
}

// Load fills dst from the file, JETLOG_* variables and -set flags, in that
// order (see Load).
func (f *Flags) Load(dst any) error { return Load(f.Source(), dst) }

// Source is where the flags say configuration comes from: the file, the
// JETLOG_* environment and the -set overrides.
func (f *Flags) Source() Source {
	return Source{File: f.File, EnvPrefix: EnvPrefix, Set: append([]string(nil), f.sets...)}
}

// setFlag collects repeated -set values.
type setFlag []string

func (s *setFlag) String() string     { return strings.Join(*s, ",") }
func (s *setFlag) Set(v string) error { *s = append(*s, v); return nil }
