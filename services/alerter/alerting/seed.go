package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/eventexpr"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// maxSeedBuckets bounds the history one seeding reads per rule.
const maxSeedBuckets = 200000

// seedKey marks that a partition learned a new_term rule's history.
func seedKey(p int, r *rule.Rule) string { return fmt.Sprintf("seed.%03d.%s", p, r.Version) }

// seed learns, for each new_term rule, the terms its groups of this
// partition already had in OpenSearch over seed_lookback, once per rule
// version: a restart reads its state instead, and never relearns. While
// OpenSearch cannot answer it retries; the rule's learning period covers
// the meantime.
func (pt *partition) seed(ctx context.Context) {
	for _, r := range pt.a.rules.Load().set.Rules {
		if r.Type != rule.TypeNewTerm || r.SeedLookback <= 0 || r.Disabled || !pt.a.cfg.Schedule.Enabled {
			continue
		}
		if _, err := pt.a.state.Get(ctx, seedKey(pt.p, r)); err == nil {
			continue
		}
		for wait := time.Second; ctx.Err() == nil; wait = min(wait*2, time.Minute) {
			err := pt.seedRule(ctx, r)
			if err == nil {
				_, _ = pt.a.state.Put(ctx, seedKey(pt.p, r), []byte(pt.a.Now().UTC().Format(time.RFC3339)))
				break
			}
			pt.a.log.Warn("cannot learn a new_term rule's history from OpenSearch; retrying (its learning period applies meanwhile)",
				"rule", r.Name, "partition", pt.p, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// seedRule reads the rule's (group, term) combinations with a composite
// aggregation and records those of this partition's groups.
func (pt *partition) seedRule(ctx context.Context, r *rule.Rule) error {
	cl, err := pt.a.env.OpenSearch(ctx)
	if err != nil {
		return err
	}
	now := pt.a.Now()
	fields := append(append([]eventexpr.Path(nil), r.GroupBy...), r.Fields...)
	var sources []any
	for i, p := range fields {
		f, text := rule.DocField(p)
		if text {
			f += ".keyword"
		}
		sources = append(sources, map[string]any{fmt.Sprintf("f%d", i): map[string]any{"terms": map[string]any{"field": f, "missing_bucket": true}}})
	}
	filters := append(r.Filters(nil), map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gte": now.Add(-r.SeedLookback).UTC().Format(time.RFC3339Nano), "lte": now.UTC().Format(time.RFC3339Nano)}}})
	var after map[string]any
	seen := 0
	terms := map[string][]string{} // key id → terms
	groups := map[string]map[string]string{}
	for {
		comp := map[string]any{"size": 1000, "sources": sources}
		if after != nil {
			comp["after"] = after
		}
		body, _ := json.Marshal(map[string]any{"size": 0, "query": map[string]any{"bool": map[string]any{"filter": filters}},
			"aggs": map[string]any{"seen": map[string]any{"composite": comp}}})
		resp, err := cl.Search(ctx, &opensearchapi.SearchReq{Indices: []string{pt.a.cfg.IndexPrefix + "-*"}, Body: bytes.NewReader(body),
			Params: opensearchapi.SearchParams{AllowNoIndices: new(true), IgnoreUnavailable: new(true)}})
		if err != nil {
			return err
		}
		var agg struct {
			AfterKey map[string]any `json:"after_key"`
			Buckets  []struct {
				Key map[string]any `json:"key"`
			} `json:"buckets"`
		}
		var aggs struct {
			Seen json.RawMessage `json:"seen"`
		}
		if len(resp.Aggregations) > 0 {
			if err := json.Unmarshal(resp.Aggregations, &aggs); err != nil {
				return err
			}
		}
		if len(aggs.Seen) > 0 {
			if err := json.Unmarshal(aggs.Seen, &agg); err != nil {
				return err
			}
		}
		for _, b := range agg.Buckets {
			group := map[string]string{}
			for i, p := range r.GroupBy {
				group[p.String()] = scalar(b.Key[fmt.Sprintf("f%d", i)])
			}
			if len(r.GroupBy) == 0 {
				group = nil
			}
			id := alert.Fingerprint(r.Name, group)
			if Partition(id, pt.a.cfg.Partitions) != pt.p {
				continue
			}
			parts := make([]string, len(r.Fields))
			for j := range r.Fields {
				parts[j] = scalar(b.Key[fmt.Sprintf("f%d", len(r.GroupBy)+j)])
			}
			terms[id] = append(terms[id], joinTerm(parts))
			groups[id] = group
		}
		seen += len(agg.Buckets)
		if len(agg.Buckets) == 0 || agg.AfterKey == nil || seen >= maxSeedBuckets {
			break
		}
		after = agg.AfterKey
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for id, ts := range terms {
		pt.eng.Seed(r.Name, groups[id], ts, now)
	}
	pt.a.log.Info("new_term rule learned its history", "rule", r.Name, "partition", pt.p, "groups", len(terms), "combinations", seen)
	return nil
}

// scalar formats an aggregation key the way rules compare values.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}

func joinTerm(parts []string) string { return strings.Join(parts, "\t") }
