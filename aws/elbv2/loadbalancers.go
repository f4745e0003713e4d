package elbv2

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// ErrDeletionProtected is returned when a load balancer to delete has deletion protection on and
// the gateway asks to keep it on: the user turns it off, then the deletion goes on.
var ErrDeletionProtected = errors.New("the load balancer has deletion protection on")

// attributeDeletionProtection is the ELBv2 attribute that makes DeleteLoadBalancer fail.
const attributeDeletionProtection = "deletion_protection.enabled"

// LoadBalancerSynthesizer makes the gateway's application load balancer what the stack asks for
// (subnets, security group, address type, attributes, tags) and deletes the load balancers it no
// longer asks for (after a scheme change, or all at teardown).
type LoadBalancerSynthesizer struct {
	API   API
	Owner tags.Owner
	Stack *model.Stack
	// KeepProtected leaves a load balancer to delete that has deletion protection on (the
	// gateway's annotation asks for it): ErrDeletionProtected. Otherwise the protection, which
	// the annotation no longer asks for, is turned off and the load balancer deleted.
	KeepProtected bool
	// KeepReplaced leaves a load balancer the stack's replaces (a scheme change) for a later
	// apply: the records move to the new one first.
	KeepReplaced bool
	// BeforeDelete, when set, is called right before a load balancer is deleted (its deletion
	// protection off): what is attached to it and not ours to delete is detached first.
	BeforeDelete func(ctx context.Context, arn string) error

	actual  []loadBalancer
	kept    string
	deleted map[string]bool
}

type loadBalancer struct {
	lb   elbv2types.LoadBalancer
	tags map[string]string
}

func (l loadBalancer) arn() string { return aws.ToString(l.lb.LoadBalancerArn) }

// Discover reads the candidates that are load balancers and looks up the names the tagging API
// may not list yet; load balancers that no longer exist, or are another owner's, are dropped.
func (s *LoadBalancerSynthesizer) Discover(ctx context.Context, candidates []tags.Tagged, names []string) error {
	byARN := candidatesOf(candidates, ":loadbalancer/")
	lbs, err := s.describe(ctx, slices.Sorted(maps.Keys(byARN)))
	if err != nil {
		return err
	}
	for _, lb := range lbs {
		s.actual = append(s.actual, loadBalancer{lb: lb, tags: byARN[aws.ToString(lb.LoadBalancerArn)].Tags})
	}
	for _, n := range names {
		if s.find(n) >= 0 {
			continue
		}
		found, err := s.byName(ctx, n)
		if err != nil {
			return err
		}
		for _, lb := range found {
			if s.Owner.Owns(lb.tags) {
				s.actual = append(s.actual, lb)
			}
		}
	}
	return nil
}

func (s *LoadBalancerSynthesizer) describe(ctx context.Context, arns []string) ([]elbv2types.LoadBalancer, error) {
	return DescribeLoadBalancers(ctx, s.API, arns)
}

// DescribeLoadBalancers describes load balancers by ARN, 20 a call, leaving out those that no
// longer exist.
func DescribeLoadBalancers(ctx context.Context, api API, arns []string) ([]elbv2types.LoadBalancer, error) {
	return clients.DescribeExisting(arns, DescribeBatch, func(ids []string) ([]elbv2types.LoadBalancer, error) {
		out, err := api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: ids})
		if err != nil {
			return nil, fmt.Errorf("DescribeLoadBalancers: %w", err)
		}
		return out.LoadBalancers, nil
	})
}

// DescribeListeners describes listeners by ARN, 20 a call, leaving out those that no longer exist.
func DescribeListeners(ctx context.Context, api API, arns []string) ([]elbv2types.Listener, error) {
	return clients.DescribeExisting(arns, DescribeBatch, func(ids []string) ([]elbv2types.Listener, error) {
		out, err := api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: ids})
		if err != nil {
			return nil, fmt.Errorf("DescribeListeners: %w", err)
		}
		return out.Listeners, nil
	})
}

// DescribeBatch is how many ARNs one ELBv2 describe takes.
const DescribeBatch = 20

// byName finds the load balancers with the name (AWS has at most one; an emulator may have
// more), with their tags.
func (s *LoadBalancerSynthesizer) byName(ctx context.Context, name string) ([]loadBalancer, error) {
	out, err := s.API.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
	if clients.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("DescribeLoadBalancers named %s: %w", name, err)
	}
	var arns []string
	for _, lb := range out.LoadBalancers {
		arns = append(arns, aws.ToString(lb.LoadBalancerArn))
	}
	if len(arns) == 0 {
		return nil, nil
	}
	t, err := tagsOf(ctx, s.API, arns)
	if err != nil {
		return nil, err
	}
	var found []loadBalancer
	for _, lb := range out.LoadBalancers {
		found = append(found, loadBalancer{lb: lb, tags: t[aws.ToString(lb.LoadBalancerArn)]})
	}
	return found, nil
}

func (s *LoadBalancerSynthesizer) find(name string) int {
	return slices.IndexFunc(s.actual, func(l loadBalancer) bool { return aws.ToString(l.lb.LoadBalancerName) == name })
}

// Synthesize makes the wanted load balancer exist as the stack says.
func (s *LoadBalancerSynthesizer) Synthesize(ctx context.Context, out *model.Deployed) error {
	want := s.Stack.LoadBalancer
	wantTags := s.Owner.For(model.ResourceLoadBalancer, s.Stack.Tags)
	i := s.find(want.Name)
	if i < 0 {
		// Not listed by its tags: look the name up before creating (the tagging API lags).
		found, err := s.byName(ctx, want.Name)
		if err != nil {
			return err
		}
		for _, lb := range found {
			if !s.Owner.Owns(lb.tags) {
				return fmt.Errorf("load balancer %s already exists without the ownership tags of %s; it is not ours, so it is left alone: delete or rename it", want.Name, s.Owner.GatewayKey)
			}
			s.actual = append(s.actual, lb)
		}
		i = s.find(want.Name)
	}
	if i < 0 {
		created, err := s.API.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           aws.String(want.Name),
			Type:           elbv2types.LoadBalancerTypeEnumApplication,
			Scheme:         elbv2types.LoadBalancerSchemeEnum(want.Scheme),
			IpAddressType:  elbv2types.IpAddressType(want.IPAddressType),
			Subnets:        want.Subnets,
			SecurityGroups: securityGroups(out),
			Tags:           elbTags(wantTags),
		})
		if err != nil {
			return fmt.Errorf("CreateLoadBalancer %s: %w", want.Name, err)
		}
		lb := created.LoadBalancers[0]
		s.actual = append(s.actual, loadBalancer{lb: lb, tags: wantTags})
		s.kept = aws.ToString(lb.LoadBalancerArn)
		out.LoadBalancer = deployedOf(lb, true)
		return s.ensureAttributes(ctx, s.kept, want, true)
	}
	cur := s.actual[i]
	arn := cur.arn()
	s.kept = arn
	out.LoadBalancer = deployedOf(cur.lb, false)
	var subnets []string
	for _, az := range cur.lb.AvailabilityZones {
		subnets = append(subnets, aws.ToString(az.SubnetId))
	}
	sort.Strings(subnets)
	if strings.Join(subnets, ",") != strings.Join(want.Subnets, ",") {
		if _, err := s.API.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: aws.String(arn), Subnets: want.Subnets}); err != nil {
			return fmt.Errorf("SetSubnets %s: %w", want.Name, err)
		}
	}
	if groups := securityGroups(out); !sameSet(cur.lb.SecurityGroups, groups) {
		if _, err := s.API.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: aws.String(arn), SecurityGroups: groups}); err != nil {
			return fmt.Errorf("SetSecurityGroups %s: %w", want.Name, err)
		}
	}
	if string(cur.lb.IpAddressType) != want.IPAddressType {
		if _, err := s.API.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: aws.String(arn), IpAddressType: elbv2types.IpAddressType(want.IPAddressType)}); err != nil {
			return fmt.Errorf("SetIpAddressType %s: %w", want.Name, err)
		}
	}
	if err := s.ensureAttributes(ctx, arn, want, false); err != nil {
		return err
	}
	return addMissingTags(ctx, s.API, arn, cur.tags, wantTags)
}

func deployedOf(lb elbv2types.LoadBalancer, created bool) model.DeployedLoadBalancer {
	return model.DeployedLoadBalancer{ARN: aws.ToString(lb.LoadBalancerArn), DNSName: aws.ToString(lb.DNSName),
		CanonicalHostedZoneID: aws.ToString(lb.CanonicalHostedZoneId), Created: created}
}

// ensureAttributes makes the attributes the user set what they say, and puts every other known
// attribute back to AWS's default (a key removed from the annotation returns to the default).
// An attribute the endpoint does not report is taken to be at its default. fresh says the load
// balancer was just created, with every attribute at its default.
func (s *LoadBalancerSynthesizer) ensureAttributes(ctx context.Context, arn string, want *model.LoadBalancer, fresh bool) error {
	have := map[string]string{}
	if !fresh {
		out, err := s.API.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("DescribeLoadBalancerAttributes %s: %w", arn, err)
		}
		for _, a := range out.Attributes {
			have[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
	}
	var change []elbv2types.LoadBalancerAttribute
	for _, kv := range attributeChanges(want.Attributes, want.DefaultAttributes, have) {
		change = append(change, elbv2types.LoadBalancerAttribute{Key: aws.String(kv[0]), Value: aws.String(kv[1])})
	}
	if len(change) == 0 {
		return nil
	}
	if _, err := s.API.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn), Attributes: change}); err != nil {
		return fmt.Errorf("ModifyLoadBalancerAttributes %s: %w", arn, err)
	}
	return nil
}

// PostSynthesize deletes the load balancers the stack does not use (their listeners go with
// them). One with deletion protection on is unprotected first, unless KeepProtected.
func (s *LoadBalancerSynthesizer) PostSynthesize(ctx context.Context) error {
	s.deleted = map[string]bool{}
	for _, lb := range s.actual {
		arn := lb.arn()
		if arn == s.kept || (s.KeepReplaced && s.kept != "") {
			continue
		}
		if err := s.unprotect(ctx, arn); err != nil {
			return err
		}
		if s.BeforeDelete != nil {
			if err := s.BeforeDelete(ctx, arn); err != nil {
				return err
			}
		}
		_, err := s.API.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)})
		switch {
		case clients.ErrorCode(err) == clients.CodeOperationNotPermitted:
			return fmt.Errorf("%w: %s: %v", ErrDeletionProtected, aws.ToString(lb.lb.LoadBalancerName), err)
		case err != nil && !clients.IsNotFound(err):
			return fmt.Errorf("DeleteLoadBalancer %s: %w", arn, err)
		}
		s.deleted[arn] = true
	}
	return nil
}

func (s *LoadBalancerSynthesizer) unprotect(ctx context.Context, arn string) error {
	out, err := s.API.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
	if clients.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("DescribeLoadBalancerAttributes %s: %w", arn, err)
	}
	protected := slices.ContainsFunc(out.Attributes, func(a elbv2types.LoadBalancerAttribute) bool {
		return aws.ToString(a.Key) == attributeDeletionProtection && aws.ToString(a.Value) == "true"
	})
	if !protected {
		return nil
	}
	if s.KeepProtected {
		return fmt.Errorf("%w: %s", ErrDeletionProtected, NameFromARN(arn))
	}
	if _, err := s.API.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
		Attributes: []elbv2types.LoadBalancerAttribute{{Key: aws.String(attributeDeletionProtection), Value: aws.String("false")}}}); err != nil {
		return fmt.Errorf("ModifyLoadBalancerAttributes %s: %w", arn, err)
	}
	return nil
}

// Owned returns the load balancers that exist after the apply, to remember.
func (s *LoadBalancerSynthesizer) Owned() []tags.Tagged {
	var out []tags.Tagged
	for _, lb := range s.actual {
		if !s.deleted[lb.arn()] {
			out = append(out, tags.Tagged{ARN: lb.arn(), Tags: lb.tags})
		}
	}
	return out
}

// Replaced returns the load balancers left for a later apply (KeepReplaced).
func (s *LoadBalancerSynthesizer) Replaced() []string {
	var out []string
	for _, lb := range s.actual {
		if arn := lb.arn(); arn != s.kept && !s.deleted[arn] && s.KeepReplaced && s.kept != "" {
			out = append(out, arn)
		}
	}
	return out
}

// Deleted returns the load balancers this apply deleted.
func (s *LoadBalancerSynthesizer) Deleted() []string {
	return slices.Sorted(maps.Keys(s.deleted))
}

// securityGroups are the ALB's groups: its own (inbound from the CIDRs) and the cluster's backend
// group (the source of the node rules).
func securityGroups(out *model.Deployed) []string {
	groups := []string{out.SecurityGroupID}
	if out.BackendSecurityGroupID != "" {
		groups = append(groups, out.BackendSecurityGroupID)
	}
	return groups
}

func sameSet(a, b []string) bool {
	return strings.Join(slices.Sorted(slices.Values(a)), ",") == strings.Join(slices.Sorted(slices.Values(b)), ",")
}

// attributeChanges returns, sorted by key, the attributes to write so that what AWS reports
// (have) becomes want, and every known attribute left out of want (defaults) is back at its
// default. An attribute AWS does not report is taken to be at its default.
func attributeChanges(want, defaults, have map[string]string) [][2]string {
	var out [][2]string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := have[k]; !ok || v != want[k] {
			if !ok && want[k] == defaults[k] {
				continue
			}
			out = append(out, [2]string{k, want[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(defaults)) {
		if _, set := want[k]; set {
			continue
		}
		if v, ok := have[k]; ok && v != defaults[k] {
			out = append(out, [2]string{k, defaults[k]})
		}
	}
	return out
}
