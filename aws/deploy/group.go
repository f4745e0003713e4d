package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2sdk "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// MemberRequest is the apply of one group member's own part: its target groups with their
// targets, its node access, and its host rules on the group's listeners. The group's ALB and
// listeners are applied before (Apply with the group's owner); the member touches nothing else.
type MemberRequest struct {
	Owner tags.Owner
	// Order is the member's group order (its rules' place among the members').
	Order int
	// Part is the member's part; nil or without target groups deletes everything it owns.
	Part *model.Stack
	// Listeners are the group's listener ARNs by port; nil when the group's ALB is gone.
	Listeners map[int32]string
	Known     []tags.Tagged
	// TargetGroupNames are looked up besides the tags (teardown).
	TargetGroupNames []string
	// Others are the keys of the cluster's other managed gateways (and groups), as in Request.
	Others []string
	// Names are the member's own security group and load balancer names, looked up besides the
	// tags: a Gateway that had an ALB of its own before it joined the group (or a crash).
	Names Names
	// Members are the owner keys of the group's members (Owner's included): the rules of
	// others go (elbv2.RuleSynthesizer.Members); nil leaves them.
	Members []string
	// KeepOwnALB leaves an ALB of the member's own (from before it joined) in place
	// (Result.Replaced), for an apply after its records have moved to the group's ALB.
	KeepOwnALB bool
}

// ApplyMember makes AWS hold exactly the member's part: rules go before the target groups they
// forward to are deleted, and come after the target groups they forward to are created.
func (d *Deployer) ApplyMember(ctx context.Context, req MemberRequest) (Result, error) {
	var res Result
	candidates, err := d.owned(ctx, req.Owner, req.Known, &res)
	if err != nil {
		return res, err
	}
	part := req.Part
	if part == nil {
		part = &model.Stack{}
	}
	tg := &elbv2.TargetGroupSynthesizer{API: d.ELBV2, Owner: req.Owner, Stack: part}
	rules := &elbv2.RuleSynthesizer{API: d.ELBV2, Owner: req.Owner, Order: req.Order, Tags: part.Tags, Listeners: req.Listeners, Members: req.Members}
	// An ALB of its own from before the member joined: deleted with its security group (none
	// wanted), after its records moved.
	empty := &model.Stack{}
	sg := &ec2.SecurityGroupSynthesizer{API: d.EC2, Owner: req.Owner, Stack: empty}
	lb := &elbv2.LoadBalancerSynthesizer{API: d.ELBV2, Owner: req.Owner, Stack: empty}
	lb.BeforeDelete = (&wafv2.Synthesizer{API: d.WAFV2, Tagging: d.ELBV2, Stack: empty, LoadBalancers: lb}).BeforeDelete
	owned := func() []tags.Tagged {
		out := append(tg.Owned(), append(sg.Owned(), lb.Owned()...)...)
		for _, c := range candidates {
			if strings.Contains(c.ARN, ":certificate/") {
				out = append(out, c)
			}
		}
		return out
	}
	if err := tg.Discover(ctx, candidates, req.TargetGroupNames); err != nil {
		return res, err
	}
	if err := sg.Discover(ctx, candidates, req.Names.SecurityGroups); err != nil {
		return res, err
	}
	if err := lb.Discover(ctx, candidates, req.Names.LoadBalancers); err != nil {
		return res, err
	}
	var deployed model.Deployed
	if len(part.TargetGroups) > 0 {
		if part.NodeAccess != nil && d.Backend != nil {
			if _, err := d.Backend.Ensure(ctx, part.TargetGroups[0].VPCID, part.NodeAccess.NodeSecurityGroupID, req.Owner.GatewayKey, part.NodeAccess.Ports); err != nil {
				return res, err
			}
		}
		if err := tg.Synthesize(ctx, &deployed); err != nil {
			res.Owned = owned()
			return res, err
		}
	}
	if err := rules.Ensure(ctx, part.Rules, deployed.TargetGroups); err != nil {
		res.Owned = owned()
		return res, err
	}
	if req.KeepOwnALB {
		for _, o := range lb.Owned() {
			res.Replaced = append(res.Replaced, o.ARN)
		}
	} else {
		for _, s := range []Synthesizer{lb, sg} {
			if err := s.PostSynthesize(ctx); err != nil {
				res.Owned, res.Deleted = owned(), lb.Deleted()
				return res, err
			}
		}
		res.Deleted = lb.Deleted()
	}
	if err := tg.PostSynthesize(ctx); err != nil {
		res.Owned = owned()
		return res, err
	}
	res.Owned = owned()
	if d.Backend != nil {
		if len(part.TargetGroups) == 0 {
			if err := d.Backend.Release(ctx, "", req.Owner.GatewayKey, req.Others); err != nil {
				return res, err
			}
		} else if err := d.Backend.Prune(ctx, append(slices.Clone(req.Others), req.Owner.GatewayKey)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// GroupListeners finds a group's load balancer (by tags, remembered ARNs and names) and returns
// its listeners by port; none when it is gone.
func (d *Deployer) GroupListeners(ctx context.Context, group tags.Owner, known []tags.Tagged, names []string) (map[int32]string, error) {
	found, err := tags.Find(ctx, d.Tagging, group, "elasticloadbalancing:loadbalancer")
	if err != nil {
		return nil, err
	}
	lb := &elbv2.LoadBalancerSynthesizer{API: d.ELBV2, Owner: group, Stack: &model.Stack{}}
	if err := lb.Discover(ctx, merge(found, known), names); err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for _, o := range lb.Owned() {
		page, err := d.ELBV2.DescribeListeners(ctx, &elbv2sdk.DescribeListenersInput{LoadBalancerArn: aws.String(o.ARN)})
		if err != nil {
			return nil, fmt.Errorf("DescribeListeners %s: %w", o.ARN, err)
		}
		for _, l := range page.Listeners {
			out[aws.ToInt32(l.Port)] = aws.ToString(l.ListenerArn)
		}
	}
	return out, nil
}

// RemoveRules deletes the owner's rules on the listeners (a gateway that left its group).
func (d *Deployer) RemoveRules(ctx context.Context, owner tags.Owner, listeners map[int32]string) error {
	return (&elbv2.RuleSynthesizer{API: d.ELBV2, Owner: owner, Listeners: listeners}).Ensure(ctx, nil, nil)
}

// GroupListenerState reads what a group's listeners hold now (nothing when its ALB is gone).
func (d *Deployer) GroupListenerState(ctx context.Context, group tags.Owner, known []tags.Tagged, names []string) (model.GroupListenerState, error) {
	listeners, err := d.GroupListeners(ctx, group, known, names)
	if err != nil {
		return model.GroupListenerState{}, err
	}
	return elbv2.GroupListenerState(ctx, d.ELBV2, group.Cluster, listeners)
}
