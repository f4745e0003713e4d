package elbv2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Owned is a resource found by its ownership tags (or remembered from the last apply).
type Owned = tags.Tagged

// NameFromARN returns the name inside a load balancer or target group ARN.
func NameFromARN(arn string) string {
	// arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
	// arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
	parts := strings.Split(arn, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-2]
	}
	return ""
}

// LoadBalancer is what the operator reports of the ALB.
type LoadBalancer struct {
	ARN                   string
	DNSName               string
	CanonicalHostedZoneID string
	State                 string
}

// Deployer applies the ELBv2 part of a stack.
type Deployer struct {
	API   API
	Owner tags.Owner
}

// EnsureTargetGroups makes the target groups exist with the wanted health checks and returns
// their ARNs by resource id, plus whether each was just created. Owned groups that match no
// wanted group (same resource id and name) are returned as orphans, to delete once unused.
func (d *Deployer) EnsureTargetGroups(ctx context.Context, want []model.TargetGroup, userTags map[string]string, owned []Owned) (arns map[string]string, created map[string]bool, orphans []string, err error) {
	arns, created = map[string]string{}, map[string]bool{}
	matched := map[string]bool{}
	var existing []string
	for _, tg := range want {
		for _, o := range owned {
			if o.ResourceID() == tg.ResourceID && NameFromARN(o.ARN) == tg.Name {
				arns[tg.ResourceID] = o.ARN
				matched[o.ARN] = true
				existing = append(existing, o.ARN)
			}
		}
	}
	for _, o := range owned {
		if !matched[o.ARN] {
			orphans = append(orphans, o.ARN)
		}
	}
	actual := map[string]elbv2types.TargetGroup{}
	if len(existing) > 0 {
		out, err := d.API.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: existing})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("DescribeTargetGroups: %w", err)
		}
		for _, g := range out.TargetGroups {
			actual[aws.ToString(g.TargetGroupArn)] = g
		}
	}
	for _, tg := range want {
		arn, ok := arns[tg.ResourceID]
		if g, found := actual[arn]; ok && found {
			if in := healthCheckUpdate(arn, tg.HealthCheck, g); in != nil {
				if _, err := d.API.ModifyTargetGroup(ctx, in); err != nil {
					return nil, nil, nil, fmt.Errorf("ModifyTargetGroup %s: %w", tg.Name, err)
				}
			}
			if err := d.addMissingTags(ctx, arn, owned, tg.ResourceID, userTags); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		hc := tg.HealthCheck
		out, err := d.API.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
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
			Matcher:                    &elbv2types.Matcher{HttpCode: aws.String(hc.Matcher)},
			Tags:                       elbTags(d.Owner.For(tg.ResourceID, userTags)),
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("CreateTargetGroup %s: %w", tg.Name, err)
		}
		arns[tg.ResourceID] = aws.ToString(out.TargetGroups[0].TargetGroupArn)
		created[tg.ResourceID] = true
	}
	return arns, created, orphans, nil
}

func healthCheckUpdate(arn string, want model.HealthCheck, g elbv2types.TargetGroup) *elbv2.ModifyTargetGroupInput {
	matcher := ""
	if g.Matcher != nil {
		matcher = aws.ToString(g.Matcher.HttpCode)
	}
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
		Matcher:                    &elbv2types.Matcher{HttpCode: aws.String(want.Matcher)},
	}
}

// EnsureLoadBalancer makes the ALB exist with the wanted subnets, security group, address type
// and attributes. Owned load balancers that are not the wanted one (e.g. after a scheme change,
// which needs a new ALB) are returned as orphans.
func (d *Deployer) EnsureLoadBalancer(ctx context.Context, want *model.LoadBalancer, securityGroupID string, userTags map[string]string, owned []Owned) (lb LoadBalancer, created bool, orphans []string, err error) {
	var arn string
	for _, o := range owned {
		if o.ResourceID() == model.ResourceLoadBalancer && NameFromARN(o.ARN) == want.Name && arn == "" {
			arn = o.ARN
		} else {
			orphans = append(orphans, o.ARN)
		}
	}
	if arn == "" {
		out, err := d.API.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           aws.String(want.Name),
			Type:           elbv2types.LoadBalancerTypeEnumApplication,
			Scheme:         elbv2types.LoadBalancerSchemeEnum(want.Scheme),
			IpAddressType:  elbv2types.IpAddressType(want.IPAddressType),
			Subnets:        want.Subnets,
			SecurityGroups: []string{securityGroupID},
			Tags:           elbTags(d.Owner.For(model.ResourceLoadBalancer, userTags)),
		})
		if err != nil {
			return lb, false, orphans, fmt.Errorf("CreateLoadBalancer %s: %w", want.Name, err)
		}
		got := out.LoadBalancers[0]
		lb = describe(got)
		if len(want.Attributes) > 0 {
			if err := d.ensureAttributes(ctx, lb.ARN, want.Attributes, true); err != nil {
				return lb, true, orphans, err
			}
		}
		return lb, true, orphans, nil
	}
	out, err := d.API.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
	if err != nil {
		return lb, false, orphans, fmt.Errorf("DescribeLoadBalancers %s: %w", want.Name, err)
	}
	if len(out.LoadBalancers) == 0 {
		return lb, false, orphans, fmt.Errorf("load balancer %s vanished", arn)
	}
	got := out.LoadBalancers[0]
	lb = describe(got)
	var subnets []string
	for _, az := range got.AvailabilityZones {
		subnets = append(subnets, aws.ToString(az.SubnetId))
	}
	sort.Strings(subnets)
	if strings.Join(subnets, ",") != strings.Join(want.Subnets, ",") {
		if _, err := d.API.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: aws.String(arn), Subnets: want.Subnets}); err != nil {
			return lb, false, orphans, fmt.Errorf("SetSubnets %s: %w", want.Name, err)
		}
	}
	if len(got.SecurityGroups) != 1 || got.SecurityGroups[0] != securityGroupID {
		if _, err := d.API.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: aws.String(arn), SecurityGroups: []string{securityGroupID}}); err != nil {
			return lb, false, orphans, fmt.Errorf("SetSecurityGroups %s: %w", want.Name, err)
		}
	}
	if string(got.IpAddressType) != want.IPAddressType {
		if _, err := d.API.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: aws.String(arn), IpAddressType: elbv2types.IpAddressType(want.IPAddressType)}); err != nil {
			return lb, false, orphans, fmt.Errorf("SetIpAddressType %s: %w", want.Name, err)
		}
	}
	if len(want.Attributes) > 0 {
		if err := d.ensureAttributes(ctx, arn, want.Attributes, false); err != nil {
			return lb, false, orphans, err
		}
	}
	if err := d.addMissingTags(ctx, arn, owned, model.ResourceLoadBalancer, userTags); err != nil {
		return lb, false, orphans, err
	}
	return lb, false, orphans, nil
}

func describe(lb elbv2types.LoadBalancer) LoadBalancer {
	out := LoadBalancer{ARN: aws.ToString(lb.LoadBalancerArn), DNSName: aws.ToString(lb.DNSName), CanonicalHostedZoneID: aws.ToString(lb.CanonicalHostedZoneId)}
	if lb.State != nil {
		out.State = string(lb.State.Code)
	}
	return out
}

func (d *Deployer) ensureAttributes(ctx context.Context, arn string, want map[string]string, fresh bool) error {
	var change []elbv2types.LoadBalancerAttribute
	have := map[string]string{}
	if !fresh {
		out, err := d.API.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("DescribeLoadBalancerAttributes %s: %w", arn, err)
		}
		for _, a := range out.Attributes {
			have[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := have[k]; !ok || v != want[k] {
			change = append(change, elbv2types.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	if len(change) == 0 {
		return nil
	}
	if _, err := d.API.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn), Attributes: change}); err != nil {
		return fmt.Errorf("ModifyLoadBalancerAttributes %s: %w", arn, err)
	}
	return nil
}

// EnsureListeners makes the ALB's listeners exactly want: by port, with the wanted protocol and
// default action; extra listeners are deleted. fresh says the ALB was just created (no listeners).
func (d *Deployer) EnsureListeners(ctx context.Context, lbARN string, want []model.Listener, targetGroups map[string]string, userTags map[string]string, fresh bool) error {
	have := map[int32]elbv2types.Listener{}
	if !fresh {
		p := elbv2.NewDescribeListenersPaginator(d.API, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("DescribeListeners %s: %w", lbARN, err)
			}
			for _, l := range page.Listeners {
				have[aws.ToInt32(l.Port)] = l
			}
		}
	}
	wanted := map[int32]bool{}
	for _, l := range want {
		wanted[l.Port] = true
		action, err := toAction(l.DefaultAction, targetGroups)
		if err != nil {
			return err
		}
		cur, ok := have[l.Port]
		if !ok {
			created, err := d.API.CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: aws.String(lbARN),
				Port:            aws.Int32(l.Port),
				Protocol:        elbv2types.ProtocolEnum(l.Protocol),
				SslPolicy:       sslPolicy(l),
				Certificates:    defaultCertificate(l),
				DefaultActions:  []elbv2types.Action{action},
				Tags:            elbTags(d.Owner.For("listener-"+strconv.Itoa(int(l.Port)), userTags)),
			})
			if err != nil {
				return fmt.Errorf("CreateListener %d on %s: %w", l.Port, lbARN, err)
			}
			if len(created.Listeners) == 1 {
				if err := d.ensureSNI(ctx, created.Listeners[0].ListenerArn, l, nil); err != nil {
					return err
				}
			}
			continue
		}
		var certs []elbv2types.Certificate
		if cur.Protocol == elbv2types.ProtocolEnumHttps {
			// DescribeListeners may list SNI certificates too (emulators do); only
			// DescribeListenerCertificates says which one is the default.
			if certs, err = d.listenerCertificates(ctx, cur.ListenerArn); err != nil {
				return err
			}
		}
		if string(cur.Protocol) != l.Protocol || !sameActions(cur.DefaultActions, action) ||
			(l.Protocol == "HTTPS" && (aws.ToString(cur.SslPolicy) != l.SSLPolicy || defaultOf(certs) != l.Certificates[0])) {
			if _, err := d.API.ModifyListener(ctx, &elbv2.ModifyListenerInput{
				ListenerArn:    cur.ListenerArn,
				Port:           aws.Int32(l.Port),
				Protocol:       elbv2types.ProtocolEnum(l.Protocol),
				SslPolicy:      sslPolicy(l),
				Certificates:   defaultCertificate(l),
				DefaultActions: []elbv2types.Action{action},
			}); err != nil {
				return fmt.Errorf("ModifyListener %d on %s: %w", l.Port, lbARN, err)
			}
			if l.Protocol == "HTTPS" && len(certs) > 0 {
				// A new default may have changed the SNI list (it does on emulators): read again.
				if certs, err = d.listenerCertificates(ctx, cur.ListenerArn); err != nil {
					return err
				}
			}
		}
		if l.Protocol == "HTTPS" {
			if err := d.ensureSNI(ctx, cur.ListenerArn, l, certs); err != nil {
				return err
			}
		}
	}
	for port, l := range have {
		if !wanted[port] {
			if _, err := d.API.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn}); err != nil {
				return fmt.Errorf("DeleteListener %d on %s: %w", port, lbARN, err)
			}
		}
	}
	return nil
}

func sslPolicy(l model.Listener) *string {
	if l.Protocol != "HTTPS" {
		return nil
	}
	return aws.String(l.SSLPolicy)
}

func defaultCertificate(l model.Listener) []elbv2types.Certificate {
	if l.Protocol != "HTTPS" || len(l.Certificates) == 0 {
		return nil
	}
	return []elbv2types.Certificate{{CertificateArn: aws.String(l.Certificates[0])}}
}

func defaultOf(certs []elbv2types.Certificate) string {
	for _, c := range certs {
		if aws.ToBool(c.IsDefault) {
			return aws.ToString(c.CertificateArn)
		}
	}
	return ""
}

func (d *Deployer) listenerCertificates(ctx context.Context, listenerARN *string) ([]elbv2types.Certificate, error) {
	var out []elbv2types.Certificate
	p := elbv2.NewDescribeListenerCertificatesPaginator(d.API, &elbv2.DescribeListenerCertificatesInput{ListenerArn: listenerARN})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeListenerCertificates %s: %w", aws.ToString(listenerARN), err)
		}
		out = append(out, page.Certificates...)
	}
	return out, nil
}

// ensureSNI makes the listener's non-default certificates exactly l.Certificates[1:]; have is
// what DescribeListenerCertificates returned (nil for a new listener).
func (d *Deployer) ensureSNI(ctx context.Context, listenerARN *string, l model.Listener, have []elbv2types.Certificate) error {
	if l.Protocol != "HTTPS" {
		return nil
	}
	want := map[string]bool{}
	for _, arn := range l.Certificates[1:] {
		want[arn] = true
	}
	present := map[string]bool{}
	var add, remove []elbv2types.Certificate
	for _, c := range have {
		arn := aws.ToString(c.CertificateArn)
		if aws.ToBool(c.IsDefault) {
			continue
		}
		present[arn] = true
		if !want[arn] && arn != l.Certificates[0] {
			remove = append(remove, elbv2types.Certificate{CertificateArn: c.CertificateArn})
		}
	}
	for _, arn := range l.Certificates[1:] {
		if !present[arn] {
			add = append(add, elbv2types.Certificate{CertificateArn: aws.String(arn)})
		}
	}
	if len(add) > 0 {
		if _, err := d.API.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: listenerARN, Certificates: add}); err != nil {
			return fmt.Errorf("AddListenerCertificates %s: %w", aws.ToString(listenerARN), err)
		}
	}
	if len(remove) > 0 {
		if _, err := d.API.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: listenerARN, Certificates: remove}); err != nil {
			return fmt.Errorf("RemoveListenerCertificates %s: %w", aws.ToString(listenerARN), err)
		}
	}
	return nil
}

func toAction(a model.Action, targetGroups map[string]string) (elbv2types.Action, error) {
	if a.Redirect != nil {
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumRedirect, RedirectConfig: &elbv2types.RedirectActionConfig{
			Protocol: aws.String(a.Redirect.Protocol), Port: aws.String(a.Redirect.Port), StatusCode: elbv2types.RedirectActionStatusCodeEnum(a.Redirect.StatusCode),
			Host: aws.String("#{host}"), Path: aws.String("/#{path}"), Query: aws.String("#{query}"),
		}}, nil
	}
	arn, ok := targetGroups[a.ForwardTo]
	if !ok {
		return elbv2types.Action{}, fmt.Errorf("listener forwards to unknown target group %q", a.ForwardTo)
	}
	return elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}, nil
}

func sameActions(have []elbv2types.Action, want elbv2types.Action) bool {
	if len(have) != 1 || have[0].Type != want.Type {
		return false
	}
	h := have[0]
	switch want.Type {
	case elbv2types.ActionTypeEnumForward:
		if aws.ToString(h.TargetGroupArn) == aws.ToString(want.TargetGroupArn) {
			return true
		}
		// AWS may answer with only ForwardConfig filled in.
		return h.ForwardConfig != nil && len(h.ForwardConfig.TargetGroups) == 1 &&
			aws.ToString(h.ForwardConfig.TargetGroups[0].TargetGroupArn) == aws.ToString(want.TargetGroupArn)
	case elbv2types.ActionTypeEnumRedirect:
		hr, wr := h.RedirectConfig, want.RedirectConfig
		return hr != nil && aws.ToString(hr.Protocol) == aws.ToString(wr.Protocol) && aws.ToString(hr.Port) == aws.ToString(wr.Port) &&
			hr.StatusCode == wr.StatusCode && aws.ToString(hr.Host) == aws.ToString(wr.Host) &&
			aws.ToString(hr.Path) == aws.ToString(wr.Path) && aws.ToString(hr.Query) == aws.ToString(wr.Query)
	}
	return false
}

// EnsureTargets makes the registered targets of a target group exactly want. fresh says the
// group was just created (nothing registered).
func (d *Deployer) EnsureTargets(ctx context.Context, tgARN string, want []model.Target, fresh bool) error {
	type key struct {
		id   string
		port int32
	}
	have := map[key]bool{}
	if !fresh {
		out, err := d.API.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
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
		if _, err := d.API.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: add}); err != nil {
			return fmt.Errorf("RegisterTargets %s: %w", tgARN, err)
		}
	}
	if len(remove) > 0 {
		if _, err := d.API.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: remove}); err != nil {
			return fmt.Errorf("DeregisterTargets %s: %w", tgARN, err)
		}
	}
	return nil
}

// DeleteLoadBalancer deletes an ALB (its listeners go with it).
func (d *Deployer) DeleteLoadBalancer(ctx context.Context, arn string) error {
	if _, err := d.API.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil {
		return fmt.Errorf("DeleteLoadBalancer %s: %w", arn, err)
	}
	return nil
}

// DeleteTargetGroup deletes a target group no listener uses any more.
func (d *Deployer) DeleteTargetGroup(ctx context.Context, arn string) error {
	if _, err := d.API.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); err != nil {
		return fmt.Errorf("DeleteTargetGroup %s: %w", arn, err)
	}
	return nil
}

func (d *Deployer) addMissingTags(ctx context.Context, arn string, owned []Owned, resourceID string, userTags map[string]string) error {
	var have map[string]string
	for _, o := range owned {
		if o.ARN == arn {
			have = o.Tags
		}
	}
	want := d.Owner.For(resourceID, userTags)
	missing := map[string]string{}
	for k, v := range want {
		if cur, ok := have[k]; !ok || cur != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 || have == nil {
		return nil
	}
	if _, err := d.API.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: elbTags(missing)}); err != nil {
		return fmt.Errorf("AddTags %s: %w", arn, err)
	}
	return nil
}

func elbTags(m map[string]string) []elbv2types.Tag {
	var out []elbv2types.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, elbv2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
