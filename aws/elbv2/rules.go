package elbv2

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Priority blocks: each group member's rules on a listener take priorities in a block of its
// own, block*RuleBlock+1 onwards. A member keeps its block while it stays, so members coming and
// going never move the others' rules; a new member takes the middle of the free blocks between
// its neighbours by group order (then key), so that order decides between overlapping hosts.
const (
	RuleBlock  = model.MaxRulesPerListener
	RuleBlocks = 50000 / RuleBlock // ALB priorities go from 1 to 50000
)

// RuleResourcePrefix starts the istio-alb.io/resource tag of a member's rule; the group order
// follows ("rule-<order>"), for the next member to find its place.
const RuleResourcePrefix = "rule-"

// RuleSynthesizer makes a group member's listener rules on its group's listeners exactly Rules:
// only rules tagged for Owner are created, changed or deleted.
type RuleSynthesizer struct {
	API   API
	Owner tags.Owner
	// Order is the member's istio-alb.io/group-order.
	Order int
	Tags  map[string]string
	// Listeners are the group's listener ARNs by port.
	Listeners map[int32]string
	// Members, when set, are the owner keys of the group's members: rules of the cluster's
	// gateways that are none of them (nor Owner) go too — a gateway that left the group, or
	// went, while the operator was not running. The rules carry their owner's key.
	Members []string
}

// Ensure makes the owner's rules the wanted ones (none deletes them all); targetGroups are the
// member's target group ARNs by resource id.
func (s *RuleSynthesizer) Ensure(ctx context.Context, want []model.Rule, targetGroups map[string]string) error {
	for _, port := range slices.Sorted(maps.Keys(s.Listeners)) {
		var rules []model.Rule
		for _, r := range want {
			if r.Port == port {
				rules = append(rules, r)
			}
		}
		if err := s.ensureListener(ctx, s.Listeners[port], rules, targetGroups); err != nil {
			return err
		}
	}
	return nil
}

type ruleOwner struct {
	key   string
	order int
	block int
}

func (s *RuleSynthesizer) ensureListener(ctx context.Context, listenerARN string, want []model.Rule, targetGroups map[string]string) error {
	all, tagged, err := taggedRules(ctx, s.API, listenerARN)
	if err != nil {
		return err
	}
	own := map[int]elbv2types.Rule{} // by priority
	others := map[string]*ruleOwner{}
	ownBlock := -1
	var stale []elbv2types.Rule
	for _, r := range all {
		t := tagged[aws.ToString(r.RuleArn)]
		prio, err := strconv.Atoi(aws.ToString(r.Priority))
		if aws.ToBool(r.IsDefault) || err != nil || t[tags.Cluster] != s.Owner.Cluster {
			continue
		}
		block := (prio - 1) / RuleBlock
		if t[tags.Gateway] == s.Owner.GatewayKey {
			own[prio] = r
			ownBlock = block
			continue
		}
		if s.Members != nil && t[tags.Gateway] != "" && !slices.Contains(s.Members, t[tags.Gateway]) {
			stale = append(stale, r)
			continue
		}
		order, _ := strconv.Atoi(strings.TrimPrefix(t[tags.Resource], RuleResourcePrefix))
		if o := others[t[tags.Gateway]]; o == nil {
			others[t[tags.Gateway]] = &ruleOwner{key: t[tags.Gateway], order: order, block: block}
		}
	}
	if ownBlock < 0 && len(want) > 0 {
		if ownBlock, err = s.allocate(others); err != nil {
			return err
		}
	}
	wanted := map[int]bool{}
	for i := range want {
		wanted[ownBlock*RuleBlock+i+1] = true
	}
	for _, r := range stale {
		if _, err := s.API.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: r.RuleArn}); err != nil {
			return fmt.Errorf("DeleteRule %s (of %s, no longer a member): %w", aws.ToString(r.RuleArn), tagged[aws.ToString(r.RuleArn)][tags.Gateway], err)
		}
	}
	// Rules no longer wanted go first: their priorities may be taken again.
	for _, prio := range slices.Sorted(maps.Keys(own)) {
		if !wanted[prio] {
			if _, err := s.API.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: own[prio].RuleArn}); err != nil {
				return fmt.Errorf("DeleteRule %s: %w", aws.ToString(own[prio].RuleArn), err)
			}
		}
	}
	for i, r := range want {
		prio := ownBlock*RuleBlock + i + 1
		arn, ok := targetGroups[r.ForwardTo]
		if !ok {
			return fmt.Errorf("rule forwards to unknown target group %q", r.ForwardTo)
		}
		conditions := []elbv2types.RuleCondition{{Field: aws.String("host-header"),
			HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: slices.Clone(r.Hosts)}}}
		actions := []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}}
		cur, ok := own[prio]
		if !ok {
			if _, err := s.API.CreateRule(ctx, &elbv2.CreateRuleInput{
				ListenerArn: aws.String(listenerARN), Priority: aws.Int32(int32(prio)), Conditions: conditions, Actions: actions,
				Tags: elbTags(s.Owner.For(RuleResourcePrefix+strconv.Itoa(s.Order), s.Tags)),
			}); err != nil {
				return fmt.Errorf("CreateRule %d on %s: %w", prio, listenerARN, err)
			}
			continue
		}
		if sameHosts(cur.Conditions, r.Hosts) && sameActions(cur.Actions, actions[0]) {
			continue
		}
		if _, err := s.API.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: cur.RuleArn, Conditions: conditions, Actions: actions}); err != nil {
			return fmt.Errorf("ModifyRule %s: %w", aws.ToString(cur.RuleArn), err)
		}
	}
	return nil
}

// allocate picks the member's block: the middle of the free blocks between the members before
// and after it by order (then key); when there is no room between them, the lowest free block.
func (s *RuleSynthesizer) allocate(others map[string]*ruleOwner) (int, error) {
	used := map[int]bool{}
	prev, next := -1, RuleBlocks
	for _, o := range others {
		used[o.block] = true
		before := cmp.Or(cmp.Compare(o.order, s.Order), strings.Compare(o.key, s.Owner.GatewayKey)) < 0
		if before && o.block > prev {
			prev = o.block
		}
		if !before && o.block < next {
			next = o.block
		}
	}
	if next-prev > 1 {
		if prev < 0 && next == RuleBlocks {
			return RuleBlocks / 4, nil // the first member leaves room before it
		}
		if next == RuleBlocks {
			// After every member: leave as much room after it as between the last two.
			return min(prev+(RuleBlocks-prev)/16+1, RuleBlocks-1), nil
		}
		return (prev + next) / 2, nil
	}
	for b := range RuleBlocks {
		if !used[b] {
			return b, nil
		}
	}
	return 0, fmt.Errorf("no free rule priority block on the listener (%d members)", len(others))
}

func sameHosts(conds []elbv2types.RuleCondition, hosts []string) bool {
	if len(conds) != 1 || aws.ToString(conds[0].Field) != "host-header" {
		return false
	}
	var have []string
	if c := conds[0].HostHeaderConfig; c != nil && len(c.Values) > 0 {
		have = c.Values
	} else {
		have = conds[0].Values
	}
	return slices.Equal(slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(hosts)))
}

// GroupListenerState reads a group's listeners (ARNs by port): the HTTPS listener's
// certificates, and how many rules of the cluster's gateways each holds, by owner key.
func GroupListenerState(ctx context.Context, api API, cluster string, listeners map[int32]string) (model.GroupListenerState, error) {
	out := model.GroupListenerState{Rules: map[string]map[int32]int{}}
	for _, port := range slices.Sorted(maps.Keys(listeners)) {
		if port == 443 {
			certs, err := listenerCertificates(ctx, api, aws.String(listeners[port]))
			if err != nil {
				return out, err
			}
			for _, c := range certs {
				if aws.ToBool(c.IsDefault) {
					out.Certificates = append([]string{aws.ToString(c.CertificateArn)}, out.Certificates...)
				} else {
					out.Certificates = append(out.Certificates, aws.ToString(c.CertificateArn))
				}
			}
		}
		_, tagged, err := taggedRules(ctx, api, listeners[port])
		if err != nil {
			return out, err
		}
		for _, t := range tagged {
			if t[tags.Cluster] == cluster && t[tags.Gateway] != "" {
				if out.Rules[t[tags.Gateway]] == nil {
					out.Rules[t[tags.Gateway]] = map[int32]int{}
				}
				out.Rules[t[tags.Gateway]][port]++
			}
		}
	}
	return out, nil
}

// taggedRules returns all rules of a listener, the default included, and the tags of the others
// by ARN (no tag call when there are none).
func taggedRules(ctx context.Context, api API, listenerARN string) ([]elbv2types.Rule, map[string]map[string]string, error) {
	all, err := describeRules(ctx, api, listenerARN)
	if err != nil {
		return nil, nil, err
	}
	var arns []string
	for _, r := range all {
		if !aws.ToBool(r.IsDefault) {
			arns = append(arns, aws.ToString(r.RuleArn))
		}
	}
	if len(arns) == 0 {
		return all, nil, nil
	}
	tagged, err := tagsOf(ctx, api, arns)
	return all, tagged, err
}

// describeRules returns all rules of a listener, the default included.
func describeRules(ctx context.Context, api API, listenerARN string) ([]elbv2types.Rule, error) {
	var all []elbv2types.Rule
	var marker *string
	for range 100 { // 100 pages of rules: far more than a listener takes
		page, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(listenerARN), Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("DescribeRules %s: %w", listenerARN, err)
		}
		all = append(all, page.Rules...)
		if marker = page.NextMarker; marker == nil {
			break
		}
	}
	return all, nil
}
