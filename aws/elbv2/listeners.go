package elbv2

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// ListenerSynthesizer makes the ALB's listeners exactly the stack's: by port, with the wanted
// protocol, default action, security policy and certificates; extra listeners are deleted. A
// deleted load balancer takes its listeners with it, so there is nothing to delete after.
type ListenerSynthesizer struct {
	API   API
	Owner tags.Owner
	Stack *model.Stack

	arns   []string
	byPort map[int32]string
}

// ARNs returns the listeners of the load balancer after the apply, for a survey to read them
// in batches.
func (s *ListenerSynthesizer) ARNs() []string { return s.arns }

// ByPort returns the listeners of the load balancer after the apply by port (a group's members
// put their rules on them).
func (s *ListenerSynthesizer) ByPort() map[int32]string { return s.byPort }

func (s *ListenerSynthesizer) keep(port int32, arn *string) {
	s.arns = append(s.arns, aws.ToString(arn))
	if s.byPort == nil {
		s.byPort = map[int32]string{}
	}
	s.byPort[port] = aws.ToString(arn)
}

// Discover implements the synthesizer: listeners are read per load balancer in Synthesize.
func (s *ListenerSynthesizer) Discover(context.Context, []tags.Tagged, []string) error { return nil }

// PostSynthesize implements the synthesizer: nothing to delete.
func (s *ListenerSynthesizer) PostSynthesize(context.Context) error { return nil }

// Owned implements the synthesizer: listeners are found through their load balancer.
func (s *ListenerSynthesizer) Owned() []tags.Tagged { return nil }

// Synthesize makes the deployed load balancer's listeners what the stack says.
func (s *ListenerSynthesizer) Synthesize(ctx context.Context, out *model.Deployed) error {
	return s.ensure(ctx, out.LoadBalancer.ARN, s.Stack.Listeners, out.TargetGroups, out.LoadBalancer.Created)
}

// ensure makes the listeners of the load balancer exactly want. fresh says the ALB was just
// created (no listeners).
func (s *ListenerSynthesizer) ensure(ctx context.Context, lbARN string, want []model.Listener, targetGroups map[string]string, fresh bool) error {
	have := map[int32]elbv2types.Listener{}
	if !fresh {
		p := elbv2.NewDescribeListenersPaginator(s.API, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
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
			created, err := s.API.CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: aws.String(lbARN),
				Port:            aws.Int32(l.Port),
				Protocol:        elbv2types.ProtocolEnum(l.Protocol),
				SslPolicy:       sslPolicy(l),
				Certificates:    defaultCertificate(l),
				DefaultActions:  []elbv2types.Action{action},
				Tags:            elbTags(s.Owner.For("listener-"+strconv.Itoa(int(l.Port)), s.Stack.Tags)),
			})
			if err != nil {
				return fmt.Errorf("CreateListener %d on %s: %w", l.Port, lbARN, err)
			}
			if len(created.Listeners) == 1 {
				s.keep(l.Port, created.Listeners[0].ListenerArn)
				if err := s.ensureSNI(ctx, created.Listeners[0].ListenerArn, l, nil); err != nil {
					return err
				}
			}
			continue
		}
		s.keep(l.Port, cur.ListenerArn)
		var certs []elbv2types.Certificate
		if cur.Protocol == elbv2types.ProtocolEnumHttps {
			// DescribeListeners may list SNI certificates too (emulators do); only
			// DescribeListenerCertificates says which one is the default.
			if certs, err = listenerCertificates(ctx, s.API, cur.ListenerArn); err != nil {
				return err
			}
		}
		if string(cur.Protocol) != l.Protocol || !sameActions(cur.DefaultActions, action) ||
			(l.Protocol == "HTTPS" && (aws.ToString(cur.SslPolicy) != l.SSLPolicy || defaultOf(certs) != l.Certificates[0])) {
			if _, err := s.API.ModifyListener(ctx, &elbv2.ModifyListenerInput{
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
				if certs, err = listenerCertificates(ctx, s.API, cur.ListenerArn); err != nil {
					return err
				}
			}
		}
		if l.Protocol == "HTTPS" {
			if err := s.ensureSNI(ctx, cur.ListenerArn, l, certs); err != nil {
				return err
			}
		}
	}
	for port, l := range have {
		if !wanted[port] {
			if _, err := s.API.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn}); err != nil {
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

func listenerCertificates(ctx context.Context, api API, listenerARN *string) ([]elbv2types.Certificate, error) {
	var out []elbv2types.Certificate
	p := elbv2.NewDescribeListenerCertificatesPaginator(api, &elbv2.DescribeListenerCertificatesInput{ListenerArn: listenerARN})
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
func (s *ListenerSynthesizer) ensureSNI(ctx context.Context, listenerARN *string, l model.Listener, have []elbv2types.Certificate) error {
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
		if _, err := s.API.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: listenerARN, Certificates: add}); err != nil {
			return fmt.Errorf("AddListenerCertificates %s: %w", aws.ToString(listenerARN), err)
		}
	}
	if len(remove) > 0 {
		if _, err := s.API.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: listenerARN, Certificates: remove}); err != nil {
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
	if a.FixedResponse != nil {
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
			StatusCode: aws.String(a.FixedResponse.StatusCode), ContentType: aws.String(a.FixedResponse.ContentType),
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
	case elbv2types.ActionTypeEnumFixedResponse:
		hf, wf := h.FixedResponseConfig, want.FixedResponseConfig
		return hf != nil && aws.ToString(hf.StatusCode) == aws.ToString(wf.StatusCode) && aws.ToString(hf.ContentType) == aws.ToString(wf.ContentType)
	}
	return false
}
