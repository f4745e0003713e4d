package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// groupKeyOf is the key of the group a Gateway joins ("group/<namespace>/<group>"), "" for none.
func groupKeyOf(gw client.Object) string {
	g := gw.GetAnnotations()[annotations.Group]
	if g == "" {
		return ""
	}
	return build.GroupKey(gw.GetNamespace(), g)
}

// groupMember is a Gateway of a group read from the cache, with its kind.
type groupMember struct {
	kind string
	obj  client.Object
}

func (m groupMember) key() string { return m.kind + "/" + m.obj.GetNamespace() + "/" + m.obj.GetName() }

// dryRunOnly reports whether the Gateway is a dry run never built for real: it has nothing in its
// group, and the others are planned without it.
func dryRunOnly(gw client.Object) bool {
	return gw.GetAnnotations()[annotations.DryRun] == "true" && !controllerutil.ContainsFinalizer(gw, Finalizer)
}

// groupMembers returns the enabled Gateways of either kind, not being deleted, of the group in
// the namespace, except the one with key except and the dry runs never built (dryRunOnly).
func groupMembers(ctx context.Context, c client.Client, namespace, group, except string) ([]groupMember, error) {
	var out []groupMember
	err := eachGateway(ctx, c, namespace, func(kind string, gw client.Object) {
		m := groupMember{kind: kind, obj: gw}
		if m.key() != except && gw.GetAnnotations()[annotations.Group] == group && gw.GetDeletionTimestamp().IsZero() && annotations.IsEnabled(gw.GetAnnotations()) && !dryRunOnly(gw) {
			out = append(out, m)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// groupApply is what a member's reconcile applies: the group's shared stack and its own part.
type groupApply struct {
	owner  tags.Owner // the group's
	order  int
	shared *model.Stack
	part   *model.Stack
	hash   string
}

// planGroup plans the member's group: every other member is gathered and planned alone (cached
// reads), and the group planner combines them. A member the group has no room for, or whose
// settings conflict, gets its problems: it is rejected like any user error, nothing written.
// Gateways that use the group without being members are held (they keep what they have), except
// the ones gone (whose part was just taken off).
func (p *Pipeline) planGroup(ctx context.Context, gw client.Object, in build.Input, plan *build.GatewayPlan, gone ...string) (*groupApply, []build.Problem, error) {
	key := in.Owner.GatewayKey
	others, err := groupMembers(ctx, p.Client, gw.GetNamespace(), plan.Config.Group, key)
	if err != nil {
		return nil, nil, err
	}
	members := []build.GroupMember{{Key: key, Order: plan.Config.GroupOrder, Hosts: build.Hosts(in.Gateway, plan.Config), Stack: plan.Stack}}
	for _, m := range others {
		r := p.Resolvers[m.kind]
		if r == nil {
			continue
		}
		owner := tags.Owner{Cluster: p.ClusterName, GatewayKey: m.key()}
		oin, err := p.gather(peerContext(ctx), m.obj, owner, r)
		if err != nil {
			return nil, nil, fmt.Errorf("gathering group member %s: %w", m.key(), err)
		}
		oplan, probs := build.Plan(oin)
		if len(probs) > 0 || oplan.Stack == nil || oplan.Config.DryRun {
			// Its own reconcile reports it; meanwhile it keeps what it has on the listeners.
			log.FromContext(ctx).V(1).Info("group member not planned: it keeps what it has", "member", m.key())
			members = append(members, build.GroupMember{Key: m.key(), Unplanned: true})
			continue
		}
		members = append(members, build.GroupMember{Key: m.key(), Order: oplan.Config.GroupOrder, Hosts: build.Hosts(oin.Gateway, oplan.Config), Stack: oplan.Stack})
	}
	owner := tags.Owner{Cluster: p.ClusterName, GatewayKey: groupKeyOf(gw)}
	// Gateways that use the group without being members (they left it and still publish its ALB)
	// keep what they have, like an unplanned member.
	users, err := p.groupUsers(ctx, owner.GatewayKey, p.groupDNS(gw, owner.GatewayKey)...)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range users {
		if !slices.Contains(gone, u) && !slices.ContainsFunc(members, func(m build.GroupMember) bool { return m.Key == u }) {
			members = append(members, build.GroupMember{Key: u, Unplanned: true})
		}
	}
	limits := p.GroupLimits
	if limits.RulesPerListener == 0 {
		limits = build.DefaultGroupLimits
	}
	gp := build.PlanGroup(owner, members, limits)
	if len(gp.Problems) > 0 || slices.ContainsFunc(members, func(m build.GroupMember) bool { return m.Unplanned }) {
		// A member is left out (no room, a conflict) or could not be planned: it keeps its
		// certificates and rules on the listeners (read from AWS, so a restart forgets nothing),
		// and the others are planned around them.
		now, err := p.groupNow(ctx, owner)
		if err != nil {
			return nil, nil, err
		}
		gp = build.PlanGroupOn(owner, members, limits, now)
	}
	if probs := gp.Problems[key]; len(probs) > 0 {
		return nil, probs, nil
	}
	g := &groupApply{owner: owner, order: plan.Config.GroupOrder, shared: gp.Shared, part: gp.Members[key]}
	h := sha256.New()
	h.Write([]byte(g.shared.Hash() + g.part.Hash() + strconv.Itoa(g.order)))
	g.hash = hex.EncodeToString(h.Sum(nil))
	return g, nil, nil
}

// programGroup applies the group's shared ALB (from the union of its members) and then the
// member's own part, under the group's lock; then the member's records. It returns the ALB's DNS
// name.
func (p *Pipeline) programGroup(ctx context.Context, gw client.Object, owner tags.Owner, plan *build.GatewayPlan, st appliedState, g *groupApply) (string, error) {
	key := owner.GatewayKey
	defer p.lockGroup(g.owner.GatewayKey)()
	groupOthers, err := managedKeys(ctx, p.Client, g.owner.GatewayKey)
	if err != nil {
		return "", err
	}
	others, err := managedKeys(ctx, p.Client, key)
	if err != nil {
		return "", err
	}
	gst := p.state(g.owner.GatewayKey)
	shared, err := p.Deployer.Apply(ctx, deploy.Request{Owner: g.owner, Stack: g.shared, Known: gst.owned, Others: groupOthers})
	p.rememberGroup(g.owner.GatewayKey, g.shared, shared, err)
	if err != nil {
		return "", err
	}
	listeners := shared.ListenersByPort
	users, err := p.groupUsers(ctx, g.owner.GatewayKey, shared.LoadBalancer.DNSName)
	if err != nil {
		return "", err
	}
	res, err := p.Deployer.ApplyMember(ctx, deploy.MemberRequest{Owner: owner, Order: g.order, Part: g.part, Listeners: listeners, Known: st.owned, Others: others, Members: users, KeepOwnALB: true})
	if err != nil {
		p.remember(key, &appliedState{owned: res.Owned, dns: st.dns, records: st.records, group: g.owner.GatewayKey})
		return "", err
	}
	lbDNS := shared.LoadBalancer.DNSName
	if st.hash != g.hash || st.dns != lbDNS {
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonLoadBalancerReady, "Deploy",
			"ALB %s of group %s programmed (%d rules for this Gateway, %d targets)", lbDNS, g.owner.GatewayKey, len(g.part.Rules), countTargets(g.part))
		p.notify(gw, plan.Notes)
	}
	now := time.Now()
	applied := &appliedState{hash: g.hash, at: now, fullAt: now, stack: g.part, owned: res.Owned, dns: lbDNS, records: st.records, group: g.owner.GatewayKey}
	if d := g.part.DNS; d != nil {
		out, err := p.DNS.Sync(ctx, p.aliases(key, d, lbDNS, shared.LoadBalancer.CanonicalHostedZoneID), st.records)
		if err != nil {
			p.remember(key, &appliedState{at: now, owned: res.Owned, dns: lbDNS, records: st.records, group: g.owner.GatewayKey})
			return lbDNS, fmt.Errorf("%s: %w", phaseDNS, err)
		}
		applied.records = &out
		p.reportDNS(gw, out, st.records)
	}
	if len(res.Replaced) > 0 {
		// The Gateway had an ALB of its own: its records point at the group's now, so it goes.
		again, err := p.Deployer.ApplyMember(ctx, deploy.MemberRequest{Owner: owner, Order: g.order, Part: g.part, Listeners: listeners, Known: res.Owned, Others: others})
		if err != nil {
			p.remember(key, &appliedState{owned: again.Owned, dns: lbDNS, records: applied.records, group: g.owner.GatewayKey})
			return lbDNS, err
		}
		applied.owned = again.Owned
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonLoadBalancerReady, "Deploy",
			"the Gateway's own ALB %s is deleted: it joined group %s", strings.Join(again.Deleted, ", "), g.owner.GatewayKey)
	}
	p.remember(key, applied)
	return lbDNS, nil
}

// teardownGroupMember deletes the member's rules, target groups and node rules; then the group's
// ALB follows the remaining members: without the member's certificates, or gone with the last.
func (p *Pipeline) teardownGroupMember(ctx context.Context, gw client.Object, owner tags.Owner, r Resolver, st appliedState, others []string) (deploy.Result, error) {
	group := tags.Owner{Cluster: p.ClusterName, GatewayKey: groupKeyOf(gw)}
	defer p.lockGroup(group.GatewayKey)()
	remaining, err := groupMembers(ctx, p.Client, gw.GetNamespace(), gw.GetAnnotations()[annotations.Group], owner.GatewayKey)
	if err != nil {
		return deploy.Result{}, err
	}
	used, err := p.usedByOthers(ctx, gw, owner.GatewayKey, group.GatewayKey)
	if err != nil {
		return deploy.Result{}, err
	}
	names := p.teardownNames(ctx, gw, owner, r)
	if len(remaining) == 0 && !used {
		// The last user: the ALB goes first (its listeners and rules with it), then the member's
		// part, and the backend group's rules with its release.
		if err := p.dropGroup(ctx, group); err != nil {
			return deploy.Result{Owned: st.owned}, err
		}
		return p.Deployer.ApplyMember(ctx, deploy.MemberRequest{Owner: owner, Known: st.owned, TargetGroupNames: names.TargetGroups, Others: others, Names: names})
	}
	gst := p.state(group.GatewayKey)
	listeners, err := p.Deployer.GroupListeners(ctx, group, gst.owned, build.LoadBalancerNames(group))
	if err != nil {
		return deploy.Result{}, err
	}
	res, err := p.Deployer.ApplyMember(ctx, deploy.MemberRequest{Owner: owner, Listeners: listeners, Known: st.owned, TargetGroupNames: names.TargetGroups, Others: others, Names: names})
	if err != nil {
		return res, err
	}
	return res, p.reapplyShared(ctx, group, remaining, gst, owner.GatewayKey)
}

// peerKey marks the gather of another member of a group: cached reads only, even for a member
// whose user error makes its own reconciles read afresh.
type peerKey struct{}

func peerContext(ctx context.Context) context.Context { return context.WithValue(ctx, peerKey{}, true) }

func isPeer(ctx context.Context) bool { v, _ := ctx.Value(peerKey{}).(bool); return v }

// reapplyShared makes the group's ALB what its remaining members want (a member left): the first
// of them plans the group, as its own reconcile would (so nothing changes twice), without the
// one gone.
func (p *Pipeline) reapplyShared(ctx context.Context, group tags.Owner, remaining []groupMember, gst appliedState, gone string) error {
	if len(remaining) == 0 {
		return nil
	}
	// A built member in a dry run is not planned for real: the first other one plans the group.
	i := slices.IndexFunc(remaining, func(m groupMember) bool { return m.obj.GetAnnotations()[annotations.DryRun] != "true" })
	if i < 0 {
		return nil
	}
	first := remaining[i]
	r := p.Resolvers[first.kind]
	if r == nil {
		return nil
	}
	in, err := p.gather(peerContext(ctx), first.obj, tags.Owner{Cluster: p.ClusterName, GatewayKey: first.key()}, r)
	if err != nil {
		return err
	}
	plan, probs := build.Plan(in)
	if len(probs) > 0 || plan.Stack == nil {
		return nil // its own reconcile reports it; the next member's apply sets the group right
	}
	g, probs, err := p.planGroup(ctx, first.obj, in, plan, gone)
	if err != nil || len(probs) > 0 || g.shared == nil {
		return err
	}
	others, err := managedKeys(ctx, p.Client, group.GatewayKey)
	if err != nil {
		return err
	}
	shared, err := p.Deployer.Apply(ctx, deploy.Request{Owner: group, Stack: g.shared, Known: gst.owned, Others: others})
	p.rememberGroup(group.GatewayKey, g.shared, shared, err)
	return err
}

// rememberGroup remembers the apply of a group's shared stack: on success the stack and its
// listeners, for the drift pass to survey like a gateway's; else only what it owns.
func (p *Pipeline) rememberGroup(key string, stack *model.Stack, res deploy.Result, err error) {
	if err != nil {
		p.remember(key, &appliedState{owned: res.Owned})
		return
	}
	now := time.Now()
	p.remember(key, &appliedState{hash: stack.Hash(), at: now, fullAt: now, stack: stack, owned: res.Owned, listeners: res.Listeners, dns: res.LoadBalancer.DNSName})
}

// leaveGroup takes the rules of a gateway that left its group (and has its own ALB now) off the
// group's ALB, which follows the remaining members or goes with the last.
func (p *Pipeline) leaveGroup(ctx context.Context, gw client.Object, owner tags.Owner, groupKey string) error {
	group := tags.Owner{Cluster: p.ClusterName, GatewayKey: groupKey}
	defer p.lockGroup(groupKey)()
	gst := p.state(groupKey)
	listeners, err := p.Deployer.GroupListeners(ctx, group, gst.owned, build.LoadBalancerNames(group))
	if err != nil {
		return err
	}
	if err := p.Deployer.RemoveRules(ctx, owner, listeners); err != nil {
		return err
	}
	_, name := build.ParseGroupKey(groupKey)
	remaining, err := groupMembers(ctx, p.Client, gw.GetNamespace(), name, owner.GatewayKey)
	if err != nil {
		return err
	}
	if len(remaining) > 0 {
		return p.reapplyShared(ctx, group, remaining, gst, owner.GatewayKey)
	}
	switch used, err := p.usedByOthers(ctx, gw, owner.GatewayKey, groupKey); {
	case err != nil:
		return err
	case used:
		return nil // another one that left still publishes the ALB: the last one drops it
	}
	return p.dropGroup(ctx, group)
}

// usedByOthers reports whether a Gateway other than self uses the group (groupUsers): one that
// left it may still publish its ALB, whose DNS name the group's state and gw (a member, or one
// that left) know.
func (p *Pipeline) usedByOthers(ctx context.Context, gw client.Object, self, groupKey string) (bool, error) {
	users, err := p.groupUsers(ctx, groupKey, p.groupDNS(gw, groupKey)...)
	return slices.ContainsFunc(users, func(k string) bool { return k != self }), err
}

// groupDNS is the DNS name of the group's ALB as this process knows it, and the one the Gateway
// publishes (a member's is the group's).
func (p *Pipeline) groupDNS(gw client.Object, groupKey string) []string {
	var out []string
	for _, name := range []string{p.state(groupKey).dns, gw.GetAnnotations()[annotations.LoadBalancerDNS]} {
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

// groupPublished returns the key of the group of the Gateway's namespace whose ALB the Gateway
// still publishes (istio-alb.io/load-balancer-dns) instead of lbDNS, its own ALB's, "" for none:
// a Gateway that left its group while the operator was not running. The group's ALB is known
// from its members' applies in this process, or from the drift pass's latest survey.
func (p *Pipeline) groupPublished(ctx context.Context, gw client.Object, lbDNS string) string {
	published := gw.GetAnnotations()[annotations.LoadBalancerDNS]
	if published == "" || published == lbDNS {
		return ""
	}
	prefix := build.GroupKey(gw.GetNamespace(), "")
	p.memory.mu.Lock()
	for k, st := range p.memory.applied {
		if strings.HasPrefix(k, prefix) && st.dns == published {
			p.memory.mu.Unlock()
			return k
		}
	}
	p.memory.mu.Unlock()
	if sv := p.survey(ctx, surveyWait); sv != nil {
		for k, a := range sv.Gateways {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			for _, lb := range a.LoadBalancers {
				if aws.ToString(lb.DNSName) == published {
					return k
				}
			}
		}
	}
	return ""
}

// dropGroup deletes a group's ALB, its listeners with every rule on them, and its security group
// (the caller holds the group's lock).
func (p *Pipeline) dropGroup(ctx context.Context, group tags.Owner) error {
	others, err := managedKeys(ctx, p.Client, group.GatewayKey)
	if err != nil {
		return err
	}
	res, err := p.Deployer.Apply(ctx, deploy.Request{Owner: group, Stack: &model.Stack{}, Known: p.state(group.GatewayKey).owned, Others: others,
		Names: deploy.Names{SecurityGroups: []string{build.SecurityGroupName(group)}, LoadBalancers: build.LoadBalancerNames(group)}})
	p.remember(group.GatewayKey, &appliedState{owned: res.Owned})
	if err == nil {
		p.remember(group.GatewayKey, nil)
	}
	return err
}

// groupUsers returns the keys of the Gateways that use a group: the enabled ones (a dry run never
// built is not) that name it, or still publish one of its ALB's DNS names (lbDNS: they left the
// group, and their records may point at it until they publish their own ALB). It is read from
// the Gateways only, so a restart changes nothing. A Gateway being torn down uses nothing: its records go first, and its
// teardown takes its part off. It fails for a namespace the operator's cache does not hold.
func (p *Pipeline) groupUsers(ctx context.Context, groupKey string, lbDNS ...string) ([]string, error) {
	ns, group := build.ParseGroupKey(groupKey)
	var keys []string
	err := eachGateway(ctx, p.Client, ns, func(kind string, gw client.Object) {
		a := gw.GetAnnotations()
		if !gw.GetDeletionTimestamp().IsZero() || !annotations.IsEnabled(a) || dryRunOnly(gw) {
			return
		}
		if a[annotations.Group] == group || (a[annotations.LoadBalancerDNS] != "" && slices.Contains(lbDNS, a[annotations.LoadBalancerDNS])) {
			keys = append(keys, groupMember{kind: kind, obj: gw}.key())
		}
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// removeOrphanGroups deletes the ALBs of the groups the survey found and no Gateway uses any
// more (groupUsers): their last member left the group, or went, while the operator was not
// running (a member leaving under its eyes takes the group's ALB with it). A group in a
// namespace the operator does not watch is left alone. It returns the groups removed.
func (p *Pipeline) removeOrphanGroups(ctx context.Context, sv *deploy.Survey) ([]string, error) {
	var removed []string
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(sv.Gateways)) {
		if kindOf(key) != build.GroupKind {
			continue
		}
		var dnsNames []string
		for _, lb := range sv.Gateways[key].LoadBalancers {
			dnsNames = append(dnsNames, aws.ToString(lb.DNSName))
		}
		orphan := func() (bool, error) {
			users, err := p.groupUsers(ctx, key, dnsNames...)
			return err == nil && len(users) == 0, err
		}
		if ok, err := orphan(); !ok {
			if err != nil {
				log.FromContext(ctx).V(1).Info("group left alone: its namespace is not read", "group", key, "error", err.Error())
			}
			continue
		}
		err := func() error {
			defer p.lockGroup(key)()
			// Again under the lock: a first member may have come since.
			if ok, err := orphan(); !ok {
				return err
			}
			if err := p.dropGroup(ctx, tags.Owner{Cluster: p.ClusterName, GatewayKey: key}); err != nil {
				return err
			}
			removed = append(removed, key)
			return nil
		}()
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", key, err))
		}
	}
	return removed, errors.Join(errs...)
}

// groupMemberKeys returns the keys of the enabled Gateways of a group (by its key).
func (p *Pipeline) groupMemberKeys(ctx context.Context, groupKey string) ([]string, error) {
	ns, group := build.ParseGroupKey(groupKey)
	members, err := groupMembers(ctx, p.Client, ns, group, "")
	var keys []string
	for _, m := range members {
		keys = append(keys, m.key())
	}
	return keys, err
}

// groupRead is a group's listeners as last read, and the count of the group's applies then.
type groupRead struct {
	now     model.GroupListenerState
	read    bool
	applies int
}

// groupNow returns what the group's listeners hold, read from AWS once and then remembered until
// the group's next apply (only the operator's applies change a group's rules and certificates),
// so that a reconcile with nothing changed makes no AWS call while a member does not fit.
func (p *Pipeline) groupNow(ctx context.Context, group tags.Owner) (model.GroupListenerState, error) {
	p.memory.mu.Lock()
	r := p.memory.groupNow[group.GatewayKey]
	p.memory.mu.Unlock()
	if r.read {
		return r.now, nil
	}
	now, err := p.Deployer.GroupListenerState(ctx, group, p.state(group.GatewayKey).owned, build.LoadBalancerNames(group))
	if err != nil {
		return now, err
	}
	p.memory.mu.Lock()
	defer p.memory.mu.Unlock()
	if p.memory.groupNow == nil {
		p.memory.groupNow = map[string]groupRead{}
	}
	if cur := p.memory.groupNow[group.GatewayKey]; cur.applies == r.applies {
		// No apply of the group since the read began: what was read holds.
		p.memory.groupNow[group.GatewayKey] = groupRead{now: now, read: true, applies: r.applies}
	}
	return now, nil
}

// lockGroup holds the group for the caller (its applies are serialised) until the returned
// function is called; what its listeners held is forgotten at both ends.
func (p *Pipeline) lockGroup(groupKey string) func() {
	unlock := p.lock(groupKey)
	p.groupChanged(groupKey)
	return func() {
		p.groupChanged(groupKey)
		unlock()
	}
}

// groupChanged forgets what the group's listeners held: around an apply of the group (lockGroup),
// or when the drift pass found them changed outside the operator.
func (p *Pipeline) groupChanged(groupKey string) {
	p.memory.mu.Lock()
	defer p.memory.mu.Unlock()
	if p.memory.groupNow == nil {
		p.memory.groupNow = map[string]groupRead{}
	}
	p.memory.groupNow[groupKey] = groupRead{applies: p.memory.groupNow[groupKey].applies + 1}
}
