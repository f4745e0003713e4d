package build

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// member builds a group member from the article's stack: its own owner, hosts and certificates.
func member(t *testing.T, name string, order int, certs []string, change func(*annotations.Config), hosts ...string) GroupMember {
	t.Helper()
	owner := tags.Owner{Cluster: "c", GatewayKey: "istio/test-ns/" + name}
	cfg, errs := annotations.Parse(map[string]string{annotations.Enabled: "true", annotations.Group: "shop"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if change != nil {
		change(&cfg)
	}
	e := env
	if len(certs) > 0 {
		e.Certificates, e.SSLPolicy = certs, "ELBSecurityPolicy-TLS13-1-2-2021-06"
		if cfg.SSLPolicy != "" {
			e.SSLPolicy = cfg.SSLPolicy
		}
	}
	stack, err := Build(owner, article(), cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	return GroupMember{Key: owner.GatewayKey, Order: order, Hosts: hosts, Stack: stack}
}

func TestPlanGroup(t *testing.T) {
	group := tags.Owner{Cluster: "c", GatewayKey: GroupKey("test-ns", "shop")}
	small := GroupLimits{RulesPerListener: 3, CertificatesPerListener: 2}
	many := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("h%d.example.com", i))
		}
		return out
	}
	for _, c := range []struct {
		name    string
		members func(t *testing.T) []GroupMember
		limits  GroupLimits
		// fit are the members in the group; reasons the left-out ones' problems, by name.
		fit     []string
		reasons map[string]string
		certs   []string // the HTTPS listener's, default first
		rules   map[string]int
		// now is what the listeners hold (PlanGroupOn).
		now model.GroupListenerState
	}{
		{
			name: "three members share one ALB with every certificate and a rule each on HTTPS (HTTP redirects)",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "b", 2, []string{"cert-b"}, nil, "b.example.com"), member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"),
					member(t, "c", 3, []string{"cert-c", "cert-a"}, nil, "c.example.com")}
			},
			limits: DefaultGroupLimits, fit: []string{"a", "b", "c"}, certs: []string{"cert-a", "cert-b", "cert-c"},
			rules: map[string]int{"a": 1, "b": 1, "c": 1},
		},
		{
			name: "six hosts take two rules (five host values a rule)",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 0, []string{"cert-a"}, nil, many(6)...)}
			},
			limits: DefaultGroupLimits, fit: []string{"a"}, certs: []string{"cert-a"}, rules: map[string]int{"a": 2},
		},
		{
			name: "without ssl-redirect the rules are on HTTP too",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 0, []string{"cert-a"}, func(c *annotations.Config) { c.SSLRedirect = false }, "a.example.com")}
			},
			limits: DefaultGroupLimits, fit: []string{"a"}, certs: []string{"cert-a"}, rules: map[string]int{"a": 2},
		},
		{
			name: "a member whose certificate would be one too many is left out, the one after it that fits is in",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"), member(t, "b", 2, []string{"cert-b"}, nil, "b.example.com"),
					member(t, "c", 3, []string{"cert-c"}, nil, "c.example.com"), member(t, "d", 4, []string{"cert-a"}, nil, "d.example.com")}
			},
			limits: small, fit: []string{"a", "b", "d"}, reasons: map[string]string{"c": ReasonGroupFull + ": 3 certificates on the HTTPS listener"},
			certs: []string{"cert-a", "cert-b"}, rules: map[string]int{"a": 1, "b": 1, "d": 1},
		},
		{
			name: "a member that fitted and asks for one certificate too many keeps those on the listener, and the next member counts them",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"), member(t, "b", 2, []string{"cert-b", "cert-x"}, nil, "b.example.com"),
					member(t, "c", 3, []string{"cert-c"}, nil, "c.example.com")}
			},
			limits: small, fit: []string{"a"}, certs: []string{"cert-a", "cert-b"}, rules: map[string]int{"a": 1},
			now:     model.GroupListenerState{Certificates: []string{"cert-a", "cert-b"}},
			reasons: map[string]string{"b": ReasonGroupFull + ": 3 certificates", "c": ReasonGroupFull + ": 3 certificates"},
		},
		{
			name: "an unplanned member keeps its rules and, while it is one, the listener keeps the certificates it has",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"), {Key: "istio/test-ns/b", Order: 2, Unplanned: true},
					member(t, "c", 3, []string{"cert-a"}, nil, many(6)...)}
			},
			limits: small, fit: []string{"a"}, certs: []string{"cert-a", "cert-b"}, rules: map[string]int{"a": 1},
			now:     model.GroupListenerState{Certificates: []string{"cert-a", "cert-b"}, Rules: map[string]map[int32]int{"istio/test-ns/b": {443: 1}}},
			reasons: map[string]string{"c": ReasonGroupFull + ": 4 rules on listener 443"},
		},
		{
			name: "the listener's default certificate stays the default when the first member is unplanned",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{{Key: "istio/test-ns/a", Order: 1, Unplanned: true}, member(t, "b", 2, []string{"cert-b"}, nil, "b.example.com")}
			},
			limits: small, fit: []string{"b"}, certs: []string{"cert-a", "cert-b"}, rules: map[string]int{"b": 1},
			now: model.GroupListenerState{Certificates: []string{"cert-a", "cert-b"}, Rules: map[string]map[int32]int{"istio/test-ns/a": {443: 1}}},
		},
		{
			name: "a member before one that keeps its certificate cannot grow the listener past the limit: it is the one left out",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a", "cert-c"}, nil, "a.example.com"), member(t, "b", 2, []string{"cert-x", "cert-y"}, nil, "b.example.com")}
			},
			limits: small, now: model.GroupListenerState{Certificates: []string{"cert-a", "cert-x"}, Rules: map[string]map[int32]int{"istio/test-ns/a": {443: 1}, "istio/test-ns/b": {443: 1}}},
			reasons: map[string]string{"a": ReasonGroupFull + ": 3 certificates", "b": ReasonGroupFull + ": 4 certificates"},
			certs:   []string{"cert-a", "cert-x"}, // the ALB stays as it is, with a's settings
		},
		{
			name: "a member cannot grow the listener over an unplanned member's certificates",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a", "cert-c"}, nil, "a.example.com"), {Key: "istio/test-ns/u", Order: 2, Unplanned: true}}
			},
			limits: small, now: model.GroupListenerState{Certificates: []string{"cert-a", "cert-u"}, Rules: map[string]map[int32]int{"istio/test-ns/a": {443: 1}, "istio/test-ns/u": {443: 1}}},
			reasons: map[string]string{"a": ReasonGroupFull + ": 3 certificates"},
		},
		{
			name: "a member in conflict keeps its certificate on the listener",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"),
					member(t, "b", 2, []string{"cert-b"}, func(c *annotations.Config) { c.Scheme = annotations.SchemeInternal }, "b.example.com")}
			},
			limits: small, fit: []string{"a"}, certs: []string{"cert-a", "cert-b"}, rules: map[string]int{"a": 1},
			now:     model.GroupListenerState{Certificates: []string{"cert-a", "cert-b"}, Rules: map[string]map[int32]int{"istio/test-ns/b": {443: 1}}},
			reasons: map[string]string{"b": ReasonGroupConflict + ": istio-alb.io/scheme"},
		},
		{
			name: "a new member left out holds no certificate: the others rotate theirs, and the ALB keeps the first member's settings",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a2"}, nil, "a.example.com"), member(t, "b", 2, []string{"cert-b"}, nil, "b.example.com"),
					member(t, "c", 3, []string{"cert-c"}, func(c *annotations.Config) { c.Scheme = annotations.SchemeInternal }, "c.example.com")}
			},
			limits: small, fit: []string{"a", "b"}, certs: []string{"cert-a2", "cert-b"}, rules: map[string]int{"a": 1, "b": 1},
			now:     model.GroupListenerState{Certificates: []string{"cert-a1", "cert-b"}, Rules: map[string]map[int32]int{"istio/test-ns/a": {443: 1}, "istio/test-ns/b": {443: 1}}},
			reasons: map[string]string{"c": ReasonGroupConflict + ": istio-alb.io/scheme"},
		},
		{
			name: "the rules of a member that does not fit count for the members after it",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"), member(t, "b", 2, []string{"cert-a", "cert-x", "cert-y"}, nil, "b.example.com"),
					member(t, "c", 3, []string{"cert-a"}, nil, many(6)...)}
			},
			limits: small, fit: []string{"a"}, certs: []string{"cert-a"}, rules: map[string]int{"a": 1},
			now:     model.GroupListenerState{Certificates: []string{"cert-a"}, Rules: map[string]map[int32]int{"istio/test-ns/b": {443: 1}}},
			reasons: map[string]string{"b": ReasonGroupFull + ": 3 certificates", "c": ReasonGroupFull + ": 4 rules on listener 443"},
		},
		{
			name: "a member whose rules would pass the limit is left out",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 1, []string{"cert-a"}, nil, "a.example.com"), member(t, "b", 2, []string{"cert-a"}, nil, many(11)...)}
			},
			limits: small, fit: []string{"a"}, reasons: map[string]string{"b": ReasonGroupFull + ": 4 rules on listener 443"},
			certs: []string{"cert-a"}, rules: map[string]int{"a": 1},
		},
		{
			name: "the first by order sets the ALB: a later member with other CIDRs, policy or scheme is reported",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{
					member(t, "z", 0, []string{"cert-a"}, nil, "z.example.com"),
					member(t, "a", 5, []string{"cert-a"}, func(c *annotations.Config) { c.InboundCIDRs = []string{"10.0.0.0/8"} }, "a.example.com"),
					member(t, "b", 5, []string{"cert-a"}, func(c *annotations.Config) { c.SSLPolicy = "ELBSecurityPolicy-2016-08" }, "b.example.com"),
					member(t, "c", 5, []string{"cert-a"}, func(c *annotations.Config) { c.Scheme = annotations.SchemeInternal }, "c.example.com"),
				}
			},
			limits: DefaultGroupLimits, fit: []string{"z"}, certs: []string{"cert-a"}, rules: map[string]int{"z": 1},
			reasons: map[string]string{
				"a": ReasonGroupConflict + ": annotation istio-alb.io/group: istio-alb.io/inbound-cidrs (10.0.0.0/8, the group's 0.0.0.0/0)",
				"b": ReasonGroupConflict + ": annotation istio-alb.io/group: istio-alb.io/ssl-policy",
				"c": ReasonGroupConflict + ": annotation istio-alb.io/group: istio-alb.io/scheme (internal, the group's internet-facing)",
			},
		},
		{
			name: "a member without host names cannot have rules",
			members: func(t *testing.T) []GroupMember {
				return []GroupMember{member(t, "a", 0, nil, nil)}
			},
			limits: DefaultGroupLimits, reasons: map[string]string{"a": ReasonGroupConflict + ": annotation istio-alb.io/group: a group member needs host names"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := PlanGroupOn(group, c.members(t), c.limits, c.now)
			var fit []string
			for k, part := range plan.Members {
				name := k[strings.LastIndex(k, "/")+1:]
				fit = append(fit, name)
				if len(part.Rules) != c.rules[name] {
					t.Errorf("%s has %d rules, want %d: %+v", name, len(part.Rules), c.rules[name], part.Rules)
				}
				if part.LoadBalancer != nil || part.SecurityGroup != nil || len(part.Listeners) > 0 {
					t.Errorf("%s's part has shared resources: %+v", name, part)
				}
				for _, r := range part.Rules {
					if r.ForwardTo != part.TargetGroups[0].ResourceID || len(r.Hosts) > model.MaxRuleHosts {
						t.Errorf("%s's rule %+v", name, r)
					}
				}
			}
			slices.Sort(fit)
			if !slices.Equal(fit, c.fit) {
				t.Errorf("members in the group %v, want %v", fit, c.fit)
			}
			for k, probs := range plan.Problems {
				name := k[strings.LastIndex(k, "/")+1:]
				want, ok := c.reasons[name]
				if !ok || len(probs) != 1 || !strings.HasPrefix(want, probs[0].Reason+": ") || !strings.Contains(probs[0].Message, strings.TrimPrefix(want, probs[0].Reason+": ")) {
					t.Errorf("%s's problems %+v, want one with %q", name, probs, want)
				}
			}
			if len(plan.Problems) != len(c.reasons) {
				t.Errorf("%d members have problems, want %d", len(plan.Problems), len(c.reasons))
			}
			if len(c.fit) == 0 && c.certs == nil {
				if plan.Shared != nil {
					t.Errorf("no member fits, yet a shared stack: %+v", plan.Shared)
				}
				return
			}
			s := plan.Shared
			if s.LoadBalancer.Name != LoadBalancerName(group, s.LoadBalancer.Scheme) || s.SecurityGroup.Name != SecurityGroupName(group) || len(s.TargetGroups) != 0 {
				t.Errorf("the shared stack is not the group's: %+v", s)
			}
			var https *model.Listener
			for i, l := range s.Listeners {
				if l.Protocol == "HTTPS" {
					https = &s.Listeners[i]
				}
				if l.DefaultAction.ForwardTo != "" {
					t.Errorf("listener %d forwards to %s; a group's listeners answer 404 or redirect", l.Port, l.DefaultAction.ForwardTo)
				}
			}
			if https == nil || !slices.Equal(https.Certificates, c.certs) {
				t.Errorf("HTTPS listener %+v, want certificates %v", https, c.certs)
			}
		})
	}
}
