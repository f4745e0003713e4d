package build

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Reasons of a group member's problems.
const (
	ReasonGroupConflict = "GroupConflict"
	ReasonGroupFull     = "GroupFull"
)

// GroupKey is the owner key of a group's shared resources (security group, ALB, listeners).
// Groups are namespaced: Gateways of one namespace share an ALB, never across namespaces (the
// cluster policy admits namespaces, not groups, so a group may not mix their Gateways).
func GroupKey(namespace, group string) string { return GroupKind + "/" + namespace + "/" + group }

// GroupKind is the first segment of a group's key, where a gateway's has its kind.
const GroupKind = "group"

// ParseGroupKey returns the namespace and group of a group's key.
func ParseGroupKey(key string) (namespace, group string) {
	_, rest, _ := strings.Cut(key, "/")
	namespace, group, _ = strings.Cut(rest, "/")
	return namespace, group
}

// GroupMember is one Gateway of a group, planned alone.
type GroupMember struct {
	Key   string
	Order int
	// Hosts are the names its rules match (Hosts of the Gateway).
	Hosts []string
	// Stack is the member's own stack as if it had its ALB.
	Stack *model.Stack
	// Unplanned marks a member that could not be planned (a user error, a dry run of a built
	// member): it keeps what it has on the group's listeners.
	Unplanned bool
}

// GroupLimits are the AWS limits a group is held to (tests use small ones).
type GroupLimits struct {
	RulesPerListener        int
	CertificatesPerListener int
}

// DefaultGroupLimits are AWS's.
var DefaultGroupLimits = GroupLimits{RulesPerListener: model.MaxRulesPerListener, CertificatesPerListener: model.MaxCertificatesPerListener}

// GroupPlan is the shared stack of a group and each fitting member's own part.
type GroupPlan struct {
	// Shared is the ALB with its security group and listeners; nil when no member fits.
	Shared *model.Stack
	// Members are the parts of the members that fit: target groups, node access, rules, records.
	Members map[string]*model.Stack
	// Problems are, by member, why it is left out (a conflict, a limit).
	Problems map[string][]Problem
}

// PlanGroup combines the members' stacks: the first by order (then key) sets the ALB's
// settings, a member whose settings differ is reported and left out, as is one whose rules or
// certificates would pass the limits once the members before it are in.
func PlanGroup(owner tags.Owner, members []GroupMember, limits GroupLimits) GroupPlan {
	return PlanGroupOn(owner, members, limits, model.GroupListenerState{})
}

// PlanGroupOn is PlanGroup for a group whose listeners hold now what was read from AWS. A member
// left out — one that does not fit, conflicts, or could not be planned (Unplanned) — is held: it
// keeps what it has there, its rules counting first and its certificates staying on the HTTPS
// listener (all the listener has, for an unplanned member, whose certificates are not known), so
// that no other member's apply breaks its hosts' TLS; a member whose growth would then pass a
// limit is the one left out. A member left out in one round is held in the next, until no new one
// is (at most one round a member). The ALB keeps the settings of the first round's first fitting
// member, even when it is held later. The listener's default certificate stays the default while
// it is wanted.
func PlanGroupOn(owner tags.Owner, members []GroupMember, limits GroupLimits, now model.GroupListenerState) GroupPlan {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b GroupMember) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Key, b.Key))
	})
	held := map[string][]Problem{}
	for _, m := range sorted {
		if m.Unplanned {
			held[m.Key] = nil // its own reconcile reports why
		}
	}
	read := now.Certificates != nil || now.Rules != nil
	var ref *GroupMember // the first round's: the ALB's settings stay its own while it is held
	for range len(sorted) + 1 {
		plan, left, used := planGroupOnce(owner, sorted, limits, now, held, ref)
		ref = used
		for k, probs := range held {
			if len(probs) > 0 {
				plan.Problems[k] = probs
			}
		}
		if len(left) == 0 || !read {
			return plan
		}
		for _, k := range left {
			held[k] = plan.Problems[k]
		}
	}
	panic("unreachable: each round holds one more member")
}

// planGroupOnce plans the group with the held members keeping what they have: their rules on the
// listeners, their certificates on the HTTPS listener (all of them for an unplanned member, whose
// certificates are not known). ref, when set, is the member whose settings the ALB has (the first
// round's). It returns the plan, the members it left out besides the held ones, and the ref.
func planGroupOnce(owner tags.Owner, sorted []GroupMember, limits GroupLimits, now model.GroupListenerState, held map[string][]Problem, ref *GroupMember) (GroupPlan, []string, *GroupMember) {
	plan := GroupPlan{Members: map[string]*model.Stack{}, Problems: map[string][]Problem{}}
	var left []string
	leave := func(key, reason, msg string) {
		plan.Problems[key] = append(plan.Problems[key], Problem{Reason: reason, Message: msg})
		left = append(left, key)
	}
	var certs []string
	policy := ""
	if ref != nil {
		policy = sslPolicyOf(ref.Stack)
	}
	rules := map[int32]int{}
	for _, m := range sorted {
		if _, ok := held[m.Key]; !ok {
			continue
		}
		for p, n := range now.Rules[m.Key] {
			rules[p] += n
		}
		for _, c := range now.Certificates {
			if !slices.Contains(certs, c) && (m.Unplanned || slices.Contains(httpsCertificates(m.Stack), c)) {
				certs = append(certs, c)
			}
		}
	}
	for i := range sorted {
		m := &sorted[i]
		if _, ok := held[m.Key]; ok || m.Stack.Empty() {
			continue
		}
		if len(m.Hosts) == 0 {
			leave(m.Key, ReasonGroupConflict, fmt.Sprintf(
				"annotation %s: a group member needs host names for its listener rules; the Gateway has none (only *)", annotations.Group))
			continue
		}
		if ref != nil {
			if diff := groupConflicts(ref.Stack, m.Stack); len(diff) > 0 {
				leave(m.Key, ReasonGroupConflict, fmt.Sprintf(
					"annotation %s: %s differ from the group's ALB, set by %s (first by %s, then by key); the Gateway is left as it was",
					annotations.Group, strings.Join(diff, ", "), ref.Key, annotations.GroupOrder))
				continue
			}
		}
		part := memberPart(m, ref, redirects(cmp.Or(ref, m).Stack))
		newCerts := certs
		for _, c := range httpsCertificates(m.Stack) {
			if !slices.Contains(newCerts, c) {
				newCerts = append(slices.Clone(newCerts), c)
			}
		}
		need := map[int32]int{}
		for _, r := range part.Rules {
			need[r.Port]++
		}
		var full []string
		if len(newCerts) > limits.CertificatesPerListener {
			full = append(full, fmt.Sprintf("%d certificates on the HTTPS listener (at most %d: a default and %d SNI)",
				len(newCerts), limits.CertificatesPerListener, limits.CertificatesPerListener-1))
		}
		for _, port := range slices.Sorted(maps.Keys(need)) {
			if rules[port]+need[port] > limits.RulesPerListener {
				full = append(full, fmt.Sprintf("%d rules on listener %d (at most %d)", rules[port]+need[port], port, limits.RulesPerListener))
			}
		}
		if len(full) > 0 {
			leave(m.Key, ReasonGroupFull, fmt.Sprintf(
				"annotation %s: the group's ALB has no room for this Gateway: it would need %s; the Gateway keeps what it has in the group",
				annotations.Group, strings.Join(full, " and ")))
			continue
		}
		certs = newCerts
		policy = cmp.Or(policy, sslPolicyOf(m.Stack))
		for p, n := range need {
			rules[p] += n
		}
		if ref == nil {
			ref = m
		}
		plan.Members[m.Key] = part
	}
	if len(now.Certificates) > 0 {
		// The listener's default stays while it is wanted: no change for a member planned anew.
		if i := slices.Index(certs, now.Certificates[0]); i > 0 {
			certs = append([]string{certs[i]}, slices.Delete(slices.Clone(certs), i, i+1)...)
		}
	}
	if ref != nil {
		plan.Shared = sharedStack(owner, ref.Stack, certs, policy)
	}
	return plan, left, ref
}

// groupConflicts names the settings of m that differ from the reference's.
func groupConflicts(ref, m *model.Stack) []string {
	var diff []string
	if ref.LoadBalancer.Scheme != m.LoadBalancer.Scheme {
		diff = append(diff, fmt.Sprintf("%s (%s, the group's %s)", annotations.Scheme, m.LoadBalancer.Scheme, ref.LoadBalancer.Scheme))
	}
	if ref.LoadBalancer.IPAddressType != m.LoadBalancer.IPAddressType {
		diff = append(diff, fmt.Sprintf("%s (%s, the group's %s)", annotations.IPAddressType, m.LoadBalancer.IPAddressType, ref.LoadBalancer.IPAddressType))
	}
	if !slices.Equal(ref.LoadBalancer.Subnets, m.LoadBalancer.Subnets) {
		diff = append(diff, fmt.Sprintf("%s (%s, the group's %s)", annotations.Subnets, strings.Join(m.LoadBalancer.Subnets, ","), strings.Join(ref.LoadBalancer.Subnets, ",")))
	}
	if !slices.Equal(cidrsOf(ref), cidrsOf(m)) {
		diff = append(diff, fmt.Sprintf("%s (%s, the group's %s)", annotations.InboundCIDRs, strings.Join(cidrsOf(m), ","), strings.Join(cidrsOf(ref), ",")))
	}
	if a, b := sslPolicyOf(ref), sslPolicyOf(m); a != "" && b != "" && a != b {
		diff = append(diff, fmt.Sprintf("%s (%s, the group's %s)", annotations.SSLPolicy, b, a))
	}
	return diff
}

func cidrsOf(s *model.Stack) []string {
	var out []string
	for _, r := range s.SecurityGroup.Ingress {
		out = append(out, r.CIDR)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sslPolicyOf(s *model.Stack) string {
	for _, l := range s.Listeners {
		if l.Protocol == "HTTPS" {
			return l.SSLPolicy
		}
	}
	return ""
}

func httpsCertificates(s *model.Stack) []string {
	for _, l := range s.Listeners {
		if l.Protocol == "HTTPS" {
			return l.Certificates
		}
	}
	return nil
}

// redirects reports whether a stack's HTTP listener redirects to HTTPS.
func redirects(s *model.Stack) bool {
	for _, l := range s.Listeners {
		if l.Port == 80 && l.DefaultAction.Redirect != nil {
			return true
		}
	}
	return false
}

// memberPart is what a member owns in its group: its target groups, node access and records,
// and host rules forwarding to its target group on HTTPS (when the group has it) and on HTTP
// unless the group's HTTP listener redirects.
func memberPart(m *GroupMember, ref *GroupMember, redirect bool) *model.Stack {
	part := &model.Stack{Tags: m.Stack.Tags, TargetGroups: m.Stack.TargetGroups, NodeAccess: m.Stack.NodeAccess, DNS: m.Stack.DNS}
	forward := m.Stack.TargetGroups[0].ResourceID
	var ports []int32
	if !redirect {
		ports = append(ports, 80)
	}
	if len(httpsCertificates(m.Stack)) > 0 || (ref != nil && len(httpsCertificates(ref.Stack)) > 0) {
		ports = append(ports, 443)
	}
	for _, port := range ports {
		for hosts := range slices.Chunk(m.Hosts, model.MaxRuleHosts) {
			part.Rules = append(part.Rules, model.Rule{Port: port, Hosts: slices.Clone(hosts), ForwardTo: forward})
		}
	}
	return part
}

// sharedStack is the group's ALB: the reference member's security group rules, load balancer
// and listener settings under the group's names, the certificates of all members, and listeners
// that answer 404 to a host no member serves.
func sharedStack(owner tags.Owner, ref *model.Stack, certs []string, policy string) *model.Stack {
	notFound := model.Action{FixedResponse: &model.FixedResponse{StatusCode: "404", ContentType: "text/plain"}}
	sg := *ref.SecurityGroup
	sg.Name = SecurityGroupName(owner)
	sg.Description = "ALB of " + owner.GatewayKey + ", managed by istio-alb-operator"
	lb := *ref.LoadBalancer
	lb.Name = LoadBalancerName(owner, lb.Scheme)
	shared := &model.Stack{Tags: ref.Tags, SecurityGroup: &sg, LoadBalancer: &lb}
	if ref.NodeAccess != nil {
		shared.NodeAccess = &model.NodeAccess{NodeSecurityGroupID: ref.NodeAccess.NodeSecurityGroupID}
	}
	http := model.Listener{Port: 80, Protocol: "HTTP", DefaultAction: notFound}
	if redirects(ref) {
		http.DefaultAction = model.Action{Redirect: &model.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: "HTTP_301"}}
	}
	shared.Listeners = []model.Listener{http}
	if len(certs) > 0 {
		shared.Listeners = append(shared.Listeners, model.Listener{Port: 443, Protocol: "HTTPS", SSLPolicy: policy,
			Certificates: slices.Clone(certs), DefaultAction: notFound})
	}
	return shared
}
