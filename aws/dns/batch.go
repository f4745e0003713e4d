package dns

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Route53 takes at most 1,000 records in one change batch (32,000 characters of values); the
// operator's changes are one record each, TXT values under 200 characters.
const maxChangesPerCall = 150

// snapshot is one zone's records as a batch sees them: read once, then changed by each
// gateway of the batch in turn.
type snapshot struct {
	zone    Zone
	sets    map[recordKey]r53types.ResourceRecordSet
	pending []r53types.Change
}

func (s *snapshot) order() []recordKey {
	keys := make([]recordKey, 0, len(s.sets))
	for k := range s.sets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b recordKey) int { return strings.Compare(a.name+" "+a.typ, b.name+" "+b.typ) })
	return keys
}

// change queues a change and applies it to the snapshot.
func (s *snapshot) change(c r53types.Change, key recordKey) {
	s.pending = append(s.pending, c)
	if c.Action == r53types.ChangeActionDelete {
		delete(s.sets, key)
	} else {
		s.sets[key] = *c.ResourceRecordSet
	}
}

// job plans one gateway's records against the snapshot, adding its changes.
type job func(snap *snapshot) error

// batch is the jobs of one zone sent together.
type batch struct {
	jobs []job
	done chan struct{}
	// errs are the jobs' outcomes, by index.
	errs []error
	// calls are the ChangeResourceRecordSets calls the batch made.
	calls int
}

// batcher runs the Route53 work of concurrent reconciles one zone at a time, in batches: the
// zone is read once and changed with one call for every gateway that joined within the window.
// Route53 allows five requests a second per account; a fleet of gateways created at once then
// costs two calls per zone and window, not two per gateway.
type batcher struct {
	api    API
	window time.Duration
	// maxAge is how long a zone's records as last read and changed are planned against without
	// reading them again. Safe: the changes create (Route53 refuses a name someone else took
	// meanwhile) and delete exactly what was read (refused if it changed); a refusal drops the
	// view, so the retry reads the zone.
	maxAge time.Duration

	mu      sync.Mutex
	waiting map[string]*batch        // zone id → the batch collecting jobs
	running map[string]chan struct{} // zone id → its lock
	views   map[string]view
	// gen counts forget calls: a view read before one is not stored after it.
	gen int
}

// view is a zone's records as the operator last read and changed them.
type view struct {
	sets map[recordKey]r53types.ResourceRecordSet
	at   time.Time
}

// forget drops every zone's view: the next batch of each reads its zone (a drift check).
func (b *batcher) forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.views = nil
	b.gen++
}

// batchTimeout bounds a batch's Route53 calls: a batch runs for every gateway that joined it,
// so it does not end with the context of the one reconcile that happened to start it.
const batchTimeout = time.Minute

// do runs j in the next batch of the zone and returns the batch's outcome.
func (b *batcher) do(ctx context.Context, zone Zone, j job) (calls int, err error) {
	b.mu.Lock()
	if b.waiting == nil {
		b.waiting, b.running = map[string]*batch{}, map[string]chan struct{}{}
	}
	bt, joined := b.waiting[zone.ID]
	if !joined {
		bt = &batch{done: make(chan struct{})}
		b.waiting[zone.ID] = bt
	}
	idx := len(bt.jobs)
	bt.jobs = append(bt.jobs, j)
	run := b.running[zone.ID]
	if run == nil {
		run = make(chan struct{}, 1) // the zone's lock: one batch at a time
		b.running[zone.ID] = run
	}
	b.mu.Unlock()
	if !joined {
		go b.lead(ctx, zone, bt, run)
	}
	select {
	case <-bt.done:
		return bt.calls, bt.errs[idx]
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// lead runs a batch: after the window, and after the zone's previous batch. It runs on its own,
// so that no reconcile waits past its context for it, and a panic in a job fails the batch
// instead of leaving the zone locked.
func (b *batcher) lead(ctx context.Context, zone Zone, bt *batch, run chan struct{}) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	time.Sleep(b.window)
	run <- struct{}{}
	b.mu.Lock()
	delete(b.waiting, zone.ID)
	jobs := bt.jobs
	b.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			bt.errs = make([]error, len(jobs))
			for i := range bt.errs {
				bt.errs[i] = fmt.Errorf("route53 batch of zone %s failed: %v", zone.ID, r)
			}
		}
		<-run
		close(bt.done)
	}()
	bt.calls, bt.errs = b.run(ctx, zone, jobs)
}

// run reads the zone, plans every job against it and sends their changes, one call for all.
// If that call fails, each job's changes are sent on their own, so one gateway's bad record
// fails only that gateway. It returns the calls made and each job's error.
func (b *batcher) run(ctx context.Context, zone Zone, jobs []job) (int, []error) {
	errs := make([]error, len(jobs))
	all := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	snap := &snapshot{zone: zone, sets: map[recordKey]r53types.ResourceRecordSet{}}
	b.mu.Lock()
	v, fresh := b.views[zone.ID]
	fresh = fresh && time.Since(v.at) < b.maxAge
	gen := b.gen
	b.mu.Unlock()
	if fresh {
		snap.sets = maps.Clone(v.sets)
	} else {
		pg := route53.NewListResourceRecordSetsPaginator(b.api, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone.ID)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return 0, all(fmt.Errorf("ListResourceRecordSets %s: %w", zone.ID, err))
			}
			for _, rs := range page.ResourceRecordSets {
				if !slices.Contains(managedTypes, string(rs.Type)) || rs.SetIdentifier != nil {
					continue
				}
				snap.sets[recordKey{normalize(aws.ToString(rs.Name)), string(rs.Type)}] = rs
			}
		}
		v.at = time.Now()
	}
	spans := make([][2]int, len(jobs)) // each job's changes in snap.pending
	for i, j := range jobs {
		from := len(snap.pending)
		errs[i] = j(snap)
		spans[i] = [2]int{from, len(snap.pending)}
		if errs[i] != nil {
			// A job that failed sends nothing (its changes stay out of the batch); the view
			// is read again next time.
			snap.pending, spans[i] = snap.pending[:from], [2]int{from, from}
			gen = -1
		}
	}
	groups := make([][]r53types.Change, 0, len(spans))
	for _, sp := range spans {
		groups = append(groups, snap.pending[sp[0]:sp[1]])
	}
	calls, sent, err := b.send(ctx, zone, groups...)
	b.mu.Lock()
	if b.views == nil {
		b.views = map[string]view{}
	}
	if err == nil && gen == b.gen {
		b.views[zone.ID] = view{sets: snap.sets, at: v.at}
	} else {
		delete(b.views, zone.ID)
	}
	b.mu.Unlock()
	if err == nil {
		return calls, errs
	}
	contributors := 0
	for _, sp := range spans {
		if sp[1] > sp[0] {
			contributors++
		}
	}
	for i, sp := range spans {
		if i < sent || sp[1] == sp[0] || errs[i] != nil {
			continue // sent already in an earlier call of the batch, or nothing to send
		}
		if contributors == 1 {
			errs[i] = err
			continue
		}
		n, _, jerr := b.send(ctx, zone, snap.pending[sp[0]:sp[1]])
		calls += n
		errs[i] = jerr
	}
	return calls, errs
}

// send makes the groups of changes (a gateway's each, never split between calls), packing them
// into calls of at most maxChangesPerCall changes. It returns the calls made and how many groups
// (in order) were sent before an error.
func (b *batcher) send(ctx context.Context, zone Zone, groups ...[]r53types.Change) (calls, sent int, err error) {
	var chunk []r53types.Change
	inChunk := 0
	flush := func() error {
		if len(chunk) == 0 {
			sent += inChunk
			inChunk = 0
			return nil
		}
		calls++
		_, err := b.api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(zone.ID),
			ChangeBatch:  &r53types.ChangeBatch{Comment: aws.String(changeComment), Changes: chunk},
		})
		chunk = nil
		if err != nil {
			return fmt.Errorf("ChangeResourceRecordSets %s: %w", zone.ID, err)
		}
		sent += inChunk
		inChunk = 0
		return nil
	}
	for _, g := range groups {
		if len(chunk)+len(g) > maxChangesPerCall {
			if err := flush(); err != nil {
				return calls, sent, err
			}
		}
		chunk = append(chunk, g...)
		inChunk++
	}
	return calls, sent, flush()
}
