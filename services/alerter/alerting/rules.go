package alerting

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/dirwatch"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

var ruleFiles = []string{"*.yaml", "*.yml"}

// reload loads the rules from the directory and the bucket and swaps them
// in; a file that does not compile is refused with its file, line and
// reason, and the rest run.
func (a *Alerter) reload(ctx context.Context) {
	var errs config.Errors
	var srcs []rule.Source
	if a.cfg.RulesDir != "" {
		a.loaded = dirwatch.Snapshot(a.cfg.RulesDir, ruleFiles)
		files, err := rule.Files(a.cfg.RulesDir)
		if err != nil {
			errs.Addf("rules_dir", "%v", err)
		}
		srcs = rule.ReadFiles(files, &errs)
	}
	if a.cfg.RulesBucket != "" {
		kvs, err := a.kvRules(ctx)
		if err != nil {
			a.log.Warn("cannot read rules from the bucket; the directory's rules run", "bucket", a.cfg.RulesBucket, "err", err)
		}
		srcs = append(srcs, kvs...)
	}
	set := rule.Load(srcs, a.cfg.Options())
	set.Refused.List = append(errs.List, set.Refused.List...)
	// A file that was good and now is refused keeps its last good rule,
	// as long as no loaded rule took its name.
	if prev := a.rules.Load(); prev != nil {
		refused := map[string]bool{}
		for _, f := range set.RefusedFiles() {
			refused[f] = true
		}
		for _, r := range prev.set.Rules {
			if refused[r.File] && set.Rule(r.Name) == nil {
				set.Rules = append(set.Rules, r)
				a.log.Warn("keeping the last good version of a refused rule file", "file", r.File, "rule", r.Name)
			}
		}
		sort.Slice(set.Rules, func(i, j int) bool { return set.Rules[i].Name < set.Rules[j].Name })
	}
	a.rules.Store(&ruleState{set: set, index: rule.NewIndex(set.Rules)})
	names := make([]string, len(set.Rules))
	for i, r := range set.Rules {
		names[i] = r.Name
	}
	a.m.rules.WithLabelValues("loaded").Set(float64(len(set.Rules)))
	a.m.rules.WithLabelValues("refused").Set(float64(len(set.RefusedFiles())))
	if err := set.Refused.Err(); err != nil {
		a.m.reloads.WithLabelValues("partial").Inc()
		a.log.Error("rules refused; the other rules run (fix the files below)", "refused", set.RefusedFiles(), "err", err.Error())
	} else {
		a.m.reloads.WithLabelValues("success").Inc()
	}
	a.log.Info("rules loaded", "dir", a.cfg.RulesDir, "bucket", a.cfg.RulesBucket, "rules", names)
	for _, pt := range a.partitions() {
		pt.setRules(set.Rules)
	}
}

// kvRules reads the <name>.yaml entries of the rules bucket.
func (a *Alerter) kvRules(ctx context.Context) ([]rule.Source, error) {
	kv, err := a.js.KeyValue(ctx, a.cfg.RulesBucket)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		if rule.IsRuleKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []rule.Source
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			return out, err
		}
		out = append(out, rule.Source{Name: rule.KVSourceName(a.cfg.RulesBucket, k), Data: e.Value()})
	}
	return out, nil
}

// watchRules reloads when the rule files change (a ConfigMap's ..data
// swap included) or the bucket's rules do.
func (a *Alerter) watchRules(ctx context.Context) {
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if a.cfg.RulesDir != "" && a.cfg.Watch {
		w, err := dirwatch.New(a.cfg.RulesDir, dirwatch.Options{Patterns: ruleFiles, Since: a.loaded, Logger: a.log})
		if err != nil {
			a.log.Error("cannot watch the rules: they will not be reloaded when they change (restart to load a change)", "dir", a.cfg.RulesDir, "err", err)
		} else {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				if err := w.Run(ctx, poke); err != nil {
					a.log.Error("rule watch stopped: changes to the rules are no longer loaded (restart to watch again)", "err", err)
				}
			}()
		}
	}
	if a.cfg.RulesBucket != "" {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.watchBucket(ctx, poke) }()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				a.reload(ctx)
			}
		}
	}()
}

// watchBucket pokes on every change of the rules bucket after its initial
// values.
func (a *Alerter) watchBucket(ctx context.Context, poke func()) {
	watchKV(ctx, a.log, "the rules bucket", func() (jetstream.KeyWatcher, error) {
		kv, err := a.js.KeyValue(ctx, a.cfg.RulesBucket)
		if err != nil {
			return nil, err
		}
		return kv.WatchAll(ctx, jetstream.UpdatesOnly())
	}, func(e jetstream.KeyValueEntry) {
		if e != nil && rule.IsRuleKey(strings.TrimSpace(e.Key())) {
			poke()
		}
	})
}
