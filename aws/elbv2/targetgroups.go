package elbv2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// TargetGroupSynthesizer makes the gateway's target groups and their registered targets what the
// stack asks for, and deletes the groups it no longer asks for.
type TargetGroupSynthesizer struct {
	API   API
	Owner tags.Owner
	Stack *model.Stack

	actual []targetGroup
	// kept are the groups the stack uses, by ARN; deleted those removed after.
	kept, deleted map[string]bool
}

type targetGroup struct {
	group elbv2types.TargetGroup
	tags  map[string]string
}

func (t targetGroup) arn() string { return aws.ToString(t.group.TargetGroupArn) }

// Discover reads the candidates that are target groups and looks up the names the tagging API
// may not list yet; groups that no longer exist are dropped, as are groups of another owner.
func (s *TargetGroupSynthesizer) Discover(ctx context.Context, candidates []tags.Tagged, names []string) error {
	byARN := candidatesOf(candidates, ":targetgroup/")
	groups, err := s.describe(ctx, slices.Sorted(maps.Keys(byARN)))
	if err != nil {
		return err
	}
	for _, g := range groups {
		s.actual = append(s.actual, targetGroup{group: g, tags: byARN[aws.ToString(g.TargetGroupArn)].Tags})
	}
	for _, n := range names {
		if s.find(n) >= 0 {
			continue
		}
		tg, exists, owned, err := s.byName(ctx, n)
		if err != nil {
			return err
		}
		if exists && owned {
			s.actual = append(s.actual, tg)
		}
	}
	return nil
}

// describe reads target groups by ARN; those that no longer exist are left out.
func (s *TargetGroupSynthesizer) describe(ctx context.Context, arns []string) ([]elbv2types.TargetGroup, error) {
	return DescribeTargetGroups(ctx, s.API, arns)
}

// DescribeTargetGroups describes target groups by ARN, 20 a call, leaving out those that no
// longer exist.
func DescribeTargetGroups(ctx context.Context, api API, arns []string) ([]elbv2types.TargetGroup, error) {
	return clients.DescribeExisting(arns, DescribeBatch, func(ids []string) ([]elbv2types.TargetGroup, error) {
		out, err := api.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: ids})
		if err != nil {
			return nil, fmt.Errorf("DescribeTargetGroups: %w", err)
		}
		return out.TargetGroups, nil
	})
}

// byName finds the target group with the name, and whether it carries this owner's tags.
func (s *TargetGroupSynthesizer) byName(ctx context.Context, name string) (tg targetGroup, exists, owned bool, err error) {
	out, err := s.API.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if clients.IsNotFound(err) || (err == nil && len(out.TargetGroups) == 0) {
		return tg, false, false, nil
	}
	if err != nil {
		return tg, false, false, fmt.Errorf("DescribeTargetGroups named %s: %w", name, err)
	}
	tg.group = out.TargetGroups[0]
	t, err := tagsOf(ctx, s.API, []string{tg.arn()})
	if err != nil {
		return tg, true, false, err
	}
	tg.tags = t[tg.arn()]
	return tg, true, s.Owner.Owns(tg.tags), nil
}

func (s *TargetGroupSynthesizer) find(name string) int {
	return slices.IndexFunc(s.actual, func(t targetGroup) bool { return aws.ToString(t.group.TargetGroupName) == name })
}

// Synthesize makes each wanted group exist with its health check, tags and targets.
func (s *TargetGroupSynthesizer) Synthesize(ctx context.Context, out *model.Deployed) error {
	s.kept = map[string]bool{}
	if out.TargetGroups == nil {
		out.TargetGroups = map[string]string{}
	}
	for _, want := range s.Stack.TargetGroups {
		i := s.find(want.Name)
		if i < 0 {
			// Not listed by its tags: the tagging API lags behind creates (a crash may have
			// come before the ARN was remembered), so look the name up before creating.
			tg, exists, owned, err := s.byName(ctx, want.Name)
			switch {
			case err != nil:
				return err
			case exists && !owned:
				return fmt.Errorf("target group %s already exists without the ownership tags of %s; it is not ours, so it is left alone: delete or rename it", want.Name, s.Owner.GatewayKey)
			case exists:
				s.actual = append(s.actual, tg)
				i = len(s.actual) - 1
			}
		}
		wantTags := s.Owner.For(want.ResourceID, s.Stack.Tags)
		var arn string
		created := i < 0
		if created {
			var err error
			if arn, err = s.create(ctx, want, wantTags); err != nil {
				return err
			}
			s.actual = append(s.actual, targetGroup{group: elbv2types.TargetGroup{TargetGroupArn: aws.String(arn), TargetGroupName: aws.String(want.Name)}, tags: wantTags})
		} else {
			cur := s.actual[i]
			arn = cur.arn()
			if in := healthCheckUpdate(arn, want, cur.group); in != nil {
				if _, err := s.API.ModifyTargetGroup(ctx, in); err != nil {
					return fmt.Errorf("ModifyTargetGroup %s: %w", want.Name, err)
				}
			}
			if err := addMissingTags(ctx, s.API, arn, cur.tags, wantTags); err != nil {
				return err
			}
		}
		if err := s.ensureAttributes(ctx, arn, want, created); err != nil {
			return err
		}
		s.kept[arn] = true
		out.TargetGroups[want.ResourceID] = arn
		if err := s.ensureTargets(ctx, arn, want.Targets, created); err != nil {
			return err
		}
	}
	return nil
}

func (s *TargetGroupSynthesizer) create(ctx context.Context, tg model.TargetGroup, wantTags map[string]string) (string, error) {
	hc := tg.HealthCheck
	out, err := s.API.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:                       aws.String(tg.Name),
		Port:                       aws.Int32(tg.Port),
		Protocol:                   elbv2types.ProtocolEnum(tg.Protocol),
		TargetType:                 elbv2types.TargetTypeEnum(tg.TargetType),
		VpcId:                      aws.String(tg.VPCID),
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        elbv2types.ProtocolEnum(hc.Protocol),
		HealthCheckPort:            aws.String(hc.Port),
		HealthCheckPath:            aws.String(hc.Path),
		HealthCheckIntervalSeconds: aws.Int32(hc.IntervalSeconds),
		HealthCheckTimeoutSeconds:  aws.Int32(hc.TimeoutSeconds),
		HealthyThresholdCount:      aws.Int32(hc.HealthyThreshold),
		UnhealthyThresholdCount:    aws.Int32(hc.UnhealthyThreshold),
		Matcher:                    Matcher(tg.ProtocolVersion, hc.Matcher),
		ProtocolVersion:            protocolVersion(tg.ProtocolVersion),
		Tags:                       elbTags(wantTags),
	})
	if err != nil {
		return "", fmt.Errorf("CreateTargetGroup %s: %w", tg.Name, err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn), nil
}

func healthCheckUpdate(arn string, tg model.TargetGroup, g elbv2types.TargetGroup) *elbv2.ModifyTargetGroupInput {
	want := tg.HealthCheck
	matcher := MatcherCodes(g.Matcher)
	if string(g.HealthCheckProtocol) == want.Protocol && aws.ToString(g.HealthCheckPort) == want.Port &&
		aws.ToString(g.HealthCheckPath) == want.Path && matcher == want.Matcher &&
		aws.ToInt32(g.HealthCheckIntervalSeconds) == want.IntervalSeconds && aws.ToInt32(g.HealthCheckTimeoutSeconds) == want.TimeoutSeconds &&
		aws.ToInt32(g.HealthyThresholdCount) == want.HealthyThreshold && aws.ToInt32(g.UnhealthyThresholdCount) == want.UnhealthyThreshold {
		return nil
	}
	return &elbv2.ModifyTargetGroupInput{
		TargetGroupArn:             aws.String(arn),
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        elbv2types.ProtocolEnum(want.Protocol),
		HealthCheckPort:            aws.String(want.Port),
		HealthCheckPath:            aws.String(want.Path),
		HealthCheckIntervalSeconds: aws.Int32(want.IntervalSeconds),
		HealthCheckTimeoutSeconds:  aws.Int32(want.TimeoutSeconds),
		HealthyThresholdCount:      aws.Int32(want.HealthyThreshold),
		UnhealthyThresholdCount:    aws.Int32(want.UnhealthyThreshold),
		Matcher:                    Matcher(tg.ProtocolVersion, want.Matcher),
	}
}

// ensureTargets makes the registered targets of a target group exactly want. fresh says the
// group was just created (nothing registered).
func (s *TargetGroupSynthesizer) ensureTargets(ctx context.Context, tgARN string, want []model.Target, fresh bool) error {
	type key struct {
		id   string
		port int32
	}
	have := map[key]bool{}
	if !fresh {
		out, err := s.API.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
		if err != nil {
			return fmt.Errorf("DescribeTargetHealth %s: %w", tgARN, err)
		}
		for _, t := range out.TargetHealthDescriptions {
			if t.Target == nil {
				continue
			}
			if t.TargetHealth != nil && t.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
				continue
			}
			have[key{aws.ToString(t.Target.Id), aws.ToInt32(t.Target.Port)}] = true
		}
	}
	var add, remove []elbv2types.TargetDescription
	wanted := map[key]bool{}
	for _, t := range want {
		k := key{t.ID, t.Port}
		wanted[k] = true
		if !have[k] {
			add = append(add, elbv2types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)})
		}
	}
	for k := range have {
		if !wanted[k] {
			remove = append(remove, elbv2types.TargetDescription{Id: aws.String(k.id), Port: aws.Int32(k.port)})
		}
	}
	sort.Slice(remove, func(i, j int) bool { return aws.ToString(remove[i].Id) < aws.ToString(remove[j].Id) })
	if len(add) > 0 {
		if _, err := s.API.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: add}); err != nil {
			return fmt.Errorf("RegisterTargets %s: %w", tgARN, err)
		}
	}
	if len(remove) > 0 {
		if _, err := s.API.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: remove}); err != nil {
			return fmt.Errorf("DeregisterTargets %s: %w", tgARN, err)
		}
	}
	return nil
}

// PostSynthesize deletes the groups the stack does not use (all of them for an empty stack);
// AWS refuses while a listener still forwards to one, which resolves itself.
func (s *TargetGroupSynthesizer) PostSynthesize(ctx context.Context) error {
	s.deleted = map[string]bool{}
	for _, tg := range s.actual {
		arn := tg.arn()
		if s.kept[arn] {
			continue
		}
		_, err := s.API.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)})
		if err != nil && !clients.IsNotFound(err) {
			return clients.NotYet(fmt.Errorf("DeleteTargetGroup %s: %w", arn, err))
		}
		s.deleted[arn] = true
	}
	return nil
}

// Owned returns the groups that exist after the apply, to remember.
func (s *TargetGroupSynthesizer) Owned() []tags.Tagged {
	var out []tags.Tagged
	for _, tg := range s.actual {
		if !s.deleted[tg.arn()] {
			out = append(out, tags.Tagged{ARN: tg.arn(), Tags: tg.tags})
		}
	}
	return out
}
