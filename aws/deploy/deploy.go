// Package deploy applies one gateway's desired stack to AWS with one synthesizer per kind —
// security groups, target groups with their targets, the load balancer, its web ACL association,
// its listeners —, run forward in dependency order; then each deletes what the stack no longer
// asks for, in reverse order, so nothing is deleted while still used. A teardown is the same
// apply with an empty stack.
// Actual state comes from AWS: the gateway's resources are found by their ownership tags (one
// tagging-API call), by the ARNs remembered from the last apply and by their deterministic names;
// a remembered resource that no longer exists is forgotten and built again.
package deploy

import (
	"context"
	"slices"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// ErrNotYet wraps an AWS refusal that resolves itself with time; see clients.ErrNotYet.
var ErrNotYet = clients.ErrNotYet

// Synthesizer makes one kind of AWS resource of a gateway what its stack asks for.
type Synthesizer interface {
	// Discover reads the resources of its kind among the candidates (found by tags or
	// remembered) and those with the names given; ones that no longer exist are dropped.
	Discover(ctx context.Context, candidates []tags.Tagged, names []string) error
	// Synthesize creates and updates what the stack asks for, filling out for the synthesizers
	// after it.
	Synthesize(ctx context.Context, out *model.Deployed) error
	// PostSynthesize deletes what the stack no longer asks for.
	PostSynthesize(ctx context.Context) error
	// Owned returns the resources that exist after the apply.
	Owned() []tags.Tagged
}

// Deployer applies stacks for one cluster.
type Deployer struct {
	Tagging tags.TaggingAPI
	EC2     ec2.API
	ELBV2   elbv2.API
	// Backend is the cluster's backend security group, shared by every gateway.
	Backend *ec2.Backend
	// WAFV2 associates the web ACLs of the gateways' ALBs.
	WAFV2 wafv2.API
}

// Names are the deterministic names of resources a gateway may have, looked up by name when
// the tagging API does not list them (it lags behind creates): a teardown must find a resource
// created moments before, or before a crash.
type Names struct {
	SecurityGroups []string
	TargetGroups   []string
	LoadBalancers  []string
}

// Request is one apply.
type Request struct {
	Owner tags.Owner
	// Stack is the desired state; an empty stack deletes everything the owner has.
	Stack *model.Stack
	// Known are the resources remembered from the last apply.
	Known []tags.Tagged
	// Names are looked up besides the tags (teardown).
	Names Names
	// KeepProtected keeps a load balancer with deletion protection on rather than turning the
	// protection off to delete it (elbv2.ErrDeletionProtected).
	KeepProtected bool
	// Others are the keys of the cluster's other managed gateways: the backend group keeps the
	// node rules they need, and goes with the last gateway.
	Others []string
	// Verify reads again what is cached of shared resources (the backend group's node rules): a
	// drift check.
	Verify bool
	// KeepReplaced leaves a load balancer the stack replaces (a scheme change) in place
	// (Result.Replaced), for an apply after the records have moved to the new one.
	KeepReplaced bool
}

// Result is what was applied.
type Result struct {
	LoadBalancer elbv2.LoadBalancer
	// Owned are the resources the gateway owns after the apply, to pass back as known next time.
	Owned []tags.Tagged
	// Deleted are the load balancers the apply deleted.
	Deleted []string
	// Certificates are the ACM certificates tagged for the owner (requested for it), found by
	// the same tagging call; the caller decides about them.
	Certificates []string
	// Listeners are the load balancer's listeners after the apply.
	Listeners []string
	// ListenersByPort are the same by port.
	ListenersByPort map[int32]string
	// Replaced are the load balancers left in place by KeepReplaced.
	Replaced []string
}

var resourceTypes = []string{"elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup", "ec2:security-group", acm.ResourceType}

// owned returns the owner's resources found by tags and the ones remembered (Known), and notes
// its certificates in res.
func (d *Deployer) owned(ctx context.Context, owner tags.Owner, known []tags.Tagged, res *Result) ([]tags.Tagged, error) {
	found, err := tags.Find(ctx, d.Tagging, owner, resourceTypes...)
	if err != nil {
		return nil, err
	}
	candidates := merge(found, known)
	for _, c := range candidates {
		if strings.Contains(c.ARN, ":certificate/") {
			res.Certificates = append(res.Certificates, c.ARN)
		}
	}
	return candidates, nil
}

// Apply makes AWS hold exactly the request's stack for its owner.
func (d *Deployer) Apply(ctx context.Context, req Request) (Result, error) {
	var res Result
	candidates, err := d.owned(ctx, req.Owner, req.Known, &res)
	if err != nil {
		return res, err
	}
	stack := req.Stack
	if stack == nil {
		stack = &model.Stack{}
	}
	sg := &ec2.SecurityGroupSynthesizer{API: d.EC2, Owner: req.Owner, Stack: stack}
	tg := &elbv2.TargetGroupSynthesizer{API: d.ELBV2, Owner: req.Owner, Stack: stack}
	lb := &elbv2.LoadBalancerSynthesizer{API: d.ELBV2, Owner: req.Owner, Stack: stack, KeepProtected: req.KeepProtected, KeepReplaced: req.KeepReplaced}
	// The web ACL after the load balancer and before its listeners: a new ALB has its web ACL
	// before it takes traffic; a load balancer to delete loses its association just before.
	waf := &wafv2.Synthesizer{API: d.WAFV2, Tagging: d.ELBV2, Stack: stack, LoadBalancers: lb}
	lb.BeforeDelete = waf.BeforeDelete
	listeners := &elbv2.ListenerSynthesizer{API: d.ELBV2, Owner: req.Owner, Stack: stack}
	synthesizers := []Synthesizer{sg, tg, lb, waf, listeners}
	names := [][]string{req.Names.SecurityGroups, req.Names.TargetGroups, req.Names.LoadBalancers, nil, nil}

	owned := func() []tags.Tagged {
		var out []tags.Tagged
		for _, s := range synthesizers {
			out = append(out, s.Owned()...)
		}
		for _, c := range candidates {
			if strings.Contains(c.ARN, ":certificate/") {
				out = append(out, c)
			}
		}
		return out
	}
	for i, s := range synthesizers {
		if err := s.Discover(ctx, candidates, names[i]); err != nil {
			return res, err
		}
	}
	var deployed model.Deployed
	if !stack.Empty() && stack.NodeAccess != nil && d.Backend != nil {
		if req.Verify {
			d.Backend.Forget()
		}
		id, err := d.Backend.Ensure(ctx, stack.SecurityGroup.VPCID, stack.NodeAccess.NodeSecurityGroupID, req.Owner.GatewayKey, stack.NodeAccess.Ports)
		if err != nil {
			return res, err
		}
		deployed.BackendSecurityGroupID = id
	}
	if !stack.Empty() {
		for _, s := range synthesizers {
			if err := s.Synthesize(ctx, &deployed); err != nil {
				res.Owned = owned()
				return res, err
			}
		}
	}
	for i := len(synthesizers) - 1; i >= 0; i-- {
		if err := synthesizers[i].PostSynthesize(ctx); err != nil {
			res.Owned, res.Deleted = owned(), lb.Deleted()
			return res, err
		}
	}
	res.Owned, res.Deleted = owned(), lb.Deleted()
	if d.Backend != nil {
		if stack.Empty() {
			if err := d.Backend.Release(ctx, "", req.Owner.GatewayKey, req.Others); err != nil {
				return res, err
			}
		} else if err := d.Backend.Prune(ctx, append(slices.Clone(req.Others), req.Owner.GatewayKey)); err != nil {
			return res, err
		}
	}
	res.Listeners, res.ListenersByPort, res.Replaced = listeners.ARNs(), listeners.ByPort(), lb.Replaced()
	res.LoadBalancer = elbv2.LoadBalancer{ARN: deployed.LoadBalancer.ARN, DNSName: deployed.LoadBalancer.DNSName,
		CanonicalHostedZoneID: deployed.LoadBalancer.CanonicalHostedZoneID}
	return res, nil
}

// merge joins the resources found by tags with the remembered ones, each once (security groups
// by id: the tagging API and the remembered form spell their ARNs differently).
func merge(found, known []tags.Tagged) []tags.Tagged {
	seen := map[string]bool{}
	var out []tags.Tagged
	for _, list := range [][]tags.Tagged{found, known} {
		for _, o := range list {
			key := o.ARN
			if strings.Contains(o.ARN, ":security-group/") {
				key = o.ARN[strings.LastIndex(o.ARN, "/")+1:]
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, o)
		}
	}
	return out
}
