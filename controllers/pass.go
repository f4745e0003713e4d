package controllers

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// surveys keeps the drift pass's latest survey, and tells when the first one is done.
type surveys struct {
	surveyMu sync.Mutex
	latest   *deploy.Survey
	first    chan struct{}
	once     sync.Once
}

func (s *surveys) firstDone() chan struct{} {
	s.surveyMu.Lock()
	defer s.surveyMu.Unlock()
	if s.first == nil {
		s.first = make(chan struct{})
	}
	return s.first
}

func (s *surveys) setSurvey(v *deploy.Survey) {
	s.surveyMu.Lock()
	s.latest = v
	s.surveyMu.Unlock()
	s.once.Do(func() { close(s.firstDone()) })
}

// survey returns the latest survey, waiting a little for the first one after a start (the
// gateways reconciled at start then cost no reads of their own); nil when there is none.
func (s *surveys) survey(ctx context.Context, wait time.Duration) *deploy.Survey {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-s.firstDone():
	case <-timer.C:
	case <-ctx.Done():
	}
	s.surveyMu.Lock()
	defer s.surveyMu.Unlock()
	return s.latest
}

// surveyWait is how long a reconcile right after a start waits for the first survey.
const surveyWait = 10 * time.Second

// adopt takes a gateway nothing is remembered of (after a start) as applied when the latest
// survey shows its stack as the plan wants it: its records are synced (a batched read of their
// zone, no write when they are right) and it is remembered without reading its resources on its
// own. It reports whether it adopted, and the ALB's DNS name.
func (p *Pipeline) adopt(ctx context.Context, gw client.Object, in build.Input, plan *build.GatewayPlan, hash string) (bool, string, error) {
	key := in.Owner.GatewayKey
	sv := p.survey(ctx, surveyWait)
	if sv == nil || time.Since(sv.At) > p.SyncPeriod {
		return false, "", nil
	}
	a := sv.Gateways[key]
	if deploy.Drift(plan.Stack, a, sv) != "" {
		return false, "", nil
	}
	var lbDNS, zoneID string
	for _, lb := range a.LoadBalancers {
		if aws.ToString(lb.LoadBalancerName) == plan.Stack.LoadBalancer.Name {
			lbDNS, zoneID = aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId)
		}
	}
	owned := slices.Clone(a.Resources)
	for _, g := range a.SecurityGroups {
		owned = append(owned, tags.Tagged{ARN: "arn:aws:ec2:::security-group/" + aws.ToString(g.GroupId), Tags: ec2.TagMap(g.Tags)})
	}
	var listeners []string
	for _, l := range a.Listeners {
		listeners = append(listeners, aws.ToString(l.ListenerArn))
	}
	// What the survey cannot see (targets, attributes, SNI certificates) is read back within a
	// sync period, at a time spread by the gateway's key so a restarted fleet does not do it at once.
	full := time.Now().Add(-p.FullSyncPeriod + spread(key, p.SyncPeriod))
	st := &appliedState{hash: hash, at: sv.At, fullAt: full, stack: plan.Stack, owned: owned, listeners: listeners, dns: lbDNS}
	if d := plan.Stack.DNS; d != nil {
		out, err := p.DNS.Sync(ctx, p.aliases(key, d, lbDNS, zoneID), nil)
		if err != nil {
			return false, "", err
		}
		st.records = &out
	}
	if n := plan.Stack.NodeAccess; n != nil && p.Deployer.Backend != nil {
		p.Deployer.Backend.Note(key, n.Ports)
	}
	p.remember(key, st)
	p.settled(key)
	log.FromContext(ctx).V(1).Info("stack found as applied in the drift pass's survey")
	return true, lbDNS, nil
}

// spread is a duration in [0, within) fixed for the key.
func spread(key string, within time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(max(within, time.Second)))
}

// DriftPass is the periodic batched drift check: every sync period one survey reads the
// cluster's resources (a tagging call, describes 20 at a time, the cluster's security groups
// and the node groups in one call each) and compares each programmed gateway's stack with it;
// the gateways that drifted are reconciled — repaired — and the others are not read on their
// own. Route53 is read once per zone and each gateway's records synced against that read. It
// runs on the leader.
type DriftPass struct {
	Pipeline *Pipeline
	Client   client.Client
	// Drifted receive the gateways to repair, by kind.
	Drifted map[string]chan event.GenericEvent
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (d *DriftPass) NeedLeaderElection() bool { return true }

// Start runs a pass at once (it serves the reconciles of a start), then every sync period.
func (d *DriftPass) Start(ctx context.Context) error {
	d.Run(ctx)
	ticker := time.NewTicker(d.Pipeline.SyncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			d.Run(ctx)
		}
	}
}

// Run makes one pass.
func (d *DriftPass) Run(ctx context.Context) {
	p := d.Pipeline
	logger := log.FromContext(ctx).WithName("drift-pass")
	states := p.programmedStates()
	if len(states) == 0 {
		// Nothing programmed in this process: after a start, the gateways that hold the
		// finalizer are surveyed for their first reconciles; with none, there is nothing to read.
		managed, err := managedKeys(ctx, d.Client, "")
		if err != nil || len(managed) == 0 {
			p.setSurvey(nil)
			return
		}
	}
	var listeners, nodeGroups []string
	for _, st := range states {
		listeners = append(listeners, st.listeners...)
		if n := st.stack.NodeAccess; n != nil && n.NodeSecurityGroupID != "" && !slices.Contains(nodeGroups, n.NodeSecurityGroupID) {
			nodeGroups = append(nodeGroups, n.NodeSecurityGroupID)
		}
	}
	sv, err := p.Deployer.Survey(ctx, p.ClusterName, listeners, nodeGroups)
	if err != nil {
		logger.Error(err, "survey failed; gateways are checked on their own")
		driftPasses.WithLabelValues("error").Inc()
		p.setSurvey(nil)
		return
	}
	p.setSurvey(sv)
	if removed, err := p.removeOrphanGroups(ctx, sv); err != nil {
		logger.Error(err, "the ALB of a group no Gateway names was not deleted; the next pass tries again")
	} else if len(removed) > 0 {
		logger.Info("deleted the ALBs of groups no Gateway names", "groups", removed)
	}
	// What drifted, then what to repair: a group's ALB is repaired by its members' reconciles.
	repair, groups := map[string]bool{}, map[string]bool{}
	for key, st := range states {
		reason := deploy.Drift(st.stack, sv.Gateways[key], sv)
		if reason == "" {
			continue
		}
		logger.Info("drift found; repairing", "gateway", key, "drift", reason)
		if kindOf(key) != build.GroupKind {
			repair[key] = true
			continue
		}
		groups[key] = true
		members, err := p.groupMemberKeys(ctx, key)
		if err != nil {
			logger.Error(err, "group members not listed", "group", key)
		}
		for _, m := range members {
			repair[m] = true
		}
	}
	for key := range states {
		if !repair[key] && !groups[key] {
			p.update(key, func(s *appliedState) { s.at = sv.At })
		}
	}
	for key := range groups {
		p.update(key, func(s *appliedState) { s.at = time.Time{} })
		p.groupChanged(key) // its listeners are read again
	}
	for key := range repair {
		p.update(key, func(s *appliedState) { s.at = time.Time{} })
		d.enqueue(key)
	}
	drifted := len(repair)
	// Records: each zone read once (the batcher's view), each gateway's records synced against it.
	p.DNS.Forget()
	var wg sync.WaitGroup
	limit := make(chan struct{}, 32)
	for key, st := range states {
		dd := st.stack.DNS
		if dd == nil || st.dns == "" {
			continue
		}
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			// Not while the gateway reconciles, and not with a state older than its own: a
			// teardown or a new stack since the survey makes this sync moot.
			unlock := p.lock(key)
			defer unlock()
			now := p.state(key)
			if now.hash != st.hash || now.dns != st.dns || now.at.IsZero() {
				return
			}
			zoneID := ""
			lbOwner := key
			if now.group != "" {
				lbOwner = now.group // a group member's names point at the group's ALB
			}
			if a := sv.Gateways[lbOwner]; a != nil {
				for _, lb := range a.LoadBalancers {
					if aws.ToString(lb.DNSName) == st.dns {
						zoneID = aws.ToString(lb.CanonicalHostedZoneId)
					}
				}
			}
			if zoneID == "" {
				return // the load balancer drifted: its repair syncs the records
			}
			out, err := p.DNS.Sync(ctx, p.aliases(key, dd, st.dns, zoneID), now.records)
			if err != nil {
				logger.Error(err, "records not synced", "gateway", key)
				return
			}
			if out.Changes > 0 {
				logger.Info("records repaired", "gateway", key)
			}
			p.update(key, func(s *appliedState) { s.records = &out })
		}()
	}
	wg.Wait()
	driftPasses.WithLabelValues("success").Inc()
	driftedGateways.Set(float64(drifted))
}

// enqueue asks the gateway's controller to reconcile it; a full queue (a controller not started)
// is left to the gateway's own timer.
func (d *DriftPass) enqueue(key string) {
	kind, rest, _ := strings.Cut(key, "/")
	ns, name, _ := strings.Cut(rest, "/")
	meta := metav1.ObjectMeta{Namespace: ns, Name: name}
	var obj client.Object = &istionet.Gateway{ObjectMeta: meta}
	if kind == frontend.KindGatewayAPI {
		obj = &gwapiv1.Gateway{ObjectMeta: meta}
	}
	select {
	case d.Drifted[kind] <- event.GenericEvent{Object: obj}:
	default:
	}
}
