// Package deploy applies one gateway's desired stack to AWS: it finds the gateway's resources by
// their ownership tags (one tagging-API call), applies security groups, target groups with their
// targets, the load balancer and its listeners in dependency order, then deletes orphans in
// reverse order.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// ErrNotYet wraps an AWS refusal that resolves itself with time (a security group still used by a
// deleted ALB's interfaces, a target group still attached): retry after a delay, not an error.
var ErrNotYet = errors.New("AWS is still releasing a dependency")

// Deployer applies stacks for one cluster.
type Deployer struct {
	Tagging tags.TaggingAPI
	EC2     ec2.API
	ELBV2   elbv2.API
}

// Result is what was applied.
type Result struct {
	LoadBalancer elbv2.LoadBalancer
	// Owned are the resources the gateway owns after the apply, to pass back as known next time
	// (the tagging API is eventually consistent, so a just-created resource may not be listed yet).
	Owned []elbv2.Owned
	// Deleted are the load balancers a teardown deleted.
	Deleted []string
	// Certificates are the ACM certificates tagged for the owner (requested for it), found by
	// the same tagging call; a teardown leaves them to the caller.
	Certificates []string
}

var resourceTypes = []string{"elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup", "ec2:security-group", acm.ResourceType}

// Find returns the resources tagged for the owner.
func (d *Deployer) Find(ctx context.Context, owner tags.Owner) ([]elbv2.Owned, error) {
	return tags.Find(ctx, d.Tagging, owner, resourceTypes...)
}

// Apply makes AWS hold exactly the stack for the owner; an empty stack deletes everything the
// owner has. known are resources remembered from the last apply.
func (d *Deployer) Apply(ctx context.Context, owner tags.Owner, stack *model.Stack, known []elbv2.Owned) (Result, error) {
	found, err := d.Find(ctx, owner)
	if err != nil {
		return Result{}, err
	}
	owned := merge(found, known)
	var lbs, tgs []elbv2.Owned
	var sgs, certs []string
	for _, o := range owned {
		switch {
		case strings.Contains(o.ARN, ":certificate/"):
			certs = append(certs, o.ARN)
		case strings.Contains(o.ARN, ":loadbalancer/"):
			lbs = append(lbs, o)
		case strings.Contains(o.ARN, ":targetgroup/"):
			tgs = append(tgs, o)
		case strings.Contains(o.ARN, ":security-group/"):
			sgs = append(sgs, o.ARN[strings.LastIndex(o.ARN, "/")+1:])
		}
	}
	sgDeployer := &ec2.SecurityGroups{API: d.EC2, Owner: owner}
	elb := &elbv2.Deployer{API: d.ELBV2, Owner: owner}

	if stack.Empty() {
		res := Result{Certificates: certs}
		for _, o := range lbs {
			res.Deleted = append(res.Deleted, o.ARN)
		}
		return res, d.teardown(ctx, sgDeployer, elb, lbs, tgs, sgs)
	}

	var res Result
	existingSG := ""
	if len(sgs) > 0 {
		existingSG = sgs[0]
	}
	sgID, err := sgDeployer.EnsureALBGroup(ctx, stack.SecurityGroup, stack.Tags, existingSG)
	if err != nil {
		return res, err
	}
	if existingSG == "" {
		res.Owned = append(res.Owned, elbv2.Owned{ARN: sgARN(sgID), Tags: owner.For(model.ResourceSecurityGroup, stack.Tags)})
	}
	if err := sgDeployer.EnsureNodeAccess(ctx, stack.NodeAccess, sgID, existingSG == ""); err != nil {
		return res, err
	}
	tgARNs, tgCreated, tgOrphans, err := elb.EnsureTargetGroups(ctx, stack.TargetGroups, stack.Tags, tgs)
	if err != nil {
		return res, err
	}
	// Targets before the load balancer: its listeners forward to groups that already have them.
	for _, tg := range stack.TargetGroups {
		if err := elb.EnsureTargets(ctx, tgARNs[tg.ResourceID], tg.Targets, tgCreated[tg.ResourceID]); err != nil {
			return res, err
		}
	}
	lb, lbCreated, lbOrphans, err := elb.EnsureLoadBalancer(ctx, stack.LoadBalancer, sgID, stack.Tags, lbs)
	if err != nil {
		return res, err
	}
	res.LoadBalancer = lb
	if err := elb.EnsureListeners(ctx, lb.ARN, stack.Listeners, tgARNs, stack.Tags, lbCreated); err != nil {
		return res, err
	}
	// Orphans last, in reverse dependency order: load balancers (and their listeners), then the
	// target groups they forwarded to.
	for _, arn := range lbOrphans {
		if err := elb.DeleteLoadBalancer(ctx, arn); err != nil && !notFound(err) {
			return res, err
		}
	}
	for _, arn := range tgOrphans {
		if err := elb.DeleteTargetGroup(ctx, arn); err != nil && !notFound(err) {
			return res, classify(err)
		}
	}
	// Remember what now exists.
	for _, o := range owned {
		if !slices.Contains(lbOrphans, o.ARN) && !slices.Contains(tgOrphans, o.ARN) {
			res.Owned = append(res.Owned, o)
		}
	}
	for id, arn := range tgARNs {
		if tgCreated[id] {
			res.Owned = append(res.Owned, elbv2.Owned{ARN: arn, Tags: owner.For(id, stack.Tags)})
		}
	}
	if lbCreated {
		res.Owned = append(res.Owned, elbv2.Owned{ARN: lb.ARN, Tags: owner.For(model.ResourceLoadBalancer, stack.Tags)})
	}
	return res, nil
}

func (d *Deployer) teardown(ctx context.Context, sgs *ec2.SecurityGroups, elb *elbv2.Deployer, lbs, tgs []elbv2.Owned, groups []string) error {
	for _, o := range lbs {
		if err := elb.DeleteLoadBalancer(ctx, o.ARN); err != nil && !notFound(err) {
			return err
		}
	}
	for _, o := range tgs {
		if err := elb.DeleteTargetGroup(ctx, o.ARN); err != nil && !notFound(err) {
			return classify(err)
		}
	}
	for _, id := range groups {
		if err := sgs.EnsureNodeAccess(ctx, nil, id, false); err != nil {
			return err
		}
		if err := sgs.DeleteGroup(ctx, id); err != nil && !notFound(err) {
			return classify(err)
		}
	}
	return nil
}

func sgARN(id string) string { return "arn:aws:ec2:::security-group/" + id }

func merge(found, known []elbv2.Owned) []elbv2.Owned {
	seen := map[string]bool{}
	var out []elbv2.Owned
	for _, list := range [][]elbv2.Owned{found, known} {
		for _, o := range list {
			id := o.ARN[strings.LastIndex(o.ARN, "/")+1:]
			if strings.Contains(o.ARN, ":security-group/") {
				if seen[id] {
					continue
				}
				seen[id] = true
			} else {
				if seen[o.ARN] {
					continue
				}
				seen[o.ARN] = true
			}
			out = append(out, o)
		}
	}
	return out
}

func notFound(err error) bool {
	switch clients.ErrorCode(err) {
	case "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "InvalidGroup.NotFound":
		return true
	}
	return false
}

func classify(err error) error {
	switch clients.ErrorCode(err) {
	case "DependencyViolation", "ResourceInUse":
		return fmt.Errorf("%w: %v", ErrNotYet, err)
	}
	return err
}
