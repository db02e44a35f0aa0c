package auth

import (
	"context"
	"strings"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Principal is an authenticated credential: its name and the sources it may
// write. A nil *Principal is an anonymous sender on a gateway that does not
// require credentials, and may write every source.
type Principal struct {
	name     string
	all      bool
	exact    map[string]bool
	patterns []string
}

func newPrincipal(name string, sources []string) *Principal {
	p := &Principal{name: name, exact: map[string]bool{}}
	for _, s := range sources {
		switch {
		case s == "*":
			p.all = true
		case strings.Contains(s, "*"):
			p.patterns = append(p.patterns, s)
		default:
			p.exact[s] = true
		}
	}
	return p
}

// Name is the credential's name ("" for an anonymous sender).
func (p *Principal) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Allows reports whether p may write source. The source is judged as the
// raw subject will name it (ingest.Subject), so a source that only looks
// allowed before it is made subject-safe is not.
func (p *Principal) Allows(source string) bool {
	if p == nil || p.all {
		return true
	}
	_, clean := ingest.Subject("", source)
	if p.exact[clean] {
		return true
	}
	for _, pat := range p.patterns {
		if match(pat, clean) {
			return true
		}
	}
	return false
}

// Check returns an *ingest.ForbiddenError when p may not write source.
func (p *Principal) Check(source string) error {
	if p.Allows(source) {
		return nil
	}
	_, clean := ingest.Subject("", source)
	return &ingest.ForbiddenError{Credential: p.name, Source: clean}
}

// Publish hands publish the records p may write and returns one result per
// record of recs, with an *ingest.ForbiddenError for each record p may not
// write, and how many those were. Records published keep the ids the
// publisher gave them.
func (p *Principal) Publish(recs []ingest.Record, publish func([]ingest.Record) []error) (res []error, forbidden int) {
	var refused []error
	for i := range recs {
		if err := p.Check(recs[i].Source); err != nil {
			if refused == nil {
				refused = make([]error, len(recs))
			}
			refused[i] = err
			forbidden++
		}
	}
	if forbidden == 0 {
		return publish(recs), 0
	}
	res = refused
	if forbidden == len(recs) {
		return res, forbidden
	}
	kept := make([]ingest.Record, 0, len(recs)-forbidden)
	at := make([]int, 0, len(recs)-forbidden)
	for i := range recs {
		if refused[i] == nil {
			kept = append(kept, recs[i])
			at = append(at, i)
		}
	}
	for j, err := range publish(kept) {
		res[at[j]] = err
		recs[at[j]] = kept[j]
	}
	return res, forbidden
}

// match reports whether s matches pattern, in which '*' stands for any run
// of characters (dots included) and everything else for itself.
func match(pattern, s string) bool {
	// The classic wildcard walk: on a mismatch, go back to the last '*'
	// and let it swallow one more character.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

type principalKey struct{}

// NewContext returns ctx carrying the request's principal, which the
// protocols read (FromContext) to hold each record to its sources.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal NewContext put in ctx, or nil (an
// anonymous sender, who may write every source).
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
