package integration_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func TestThePeriodicCheckRepairsDriftInAWSReadingOnlyTheGatewaysOwnResources(t *testing.T) {
	s := newScenario(t, scenarioOptions{syncPeriod: 2 * time.Second})
	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	lb, listeners, tg := s.loadBalancer(s.gatewayKey("gw"))
	wantTargets := strings.Join(s.targets(tg.TargetGroupArn), ",")

	t.Run("a check with no drift only reads", func(t *testing.T) {
		before := s.calls.Snapshot()
		lookup := clients.Call{Service: "Resource Groups Tagging API", Operation: "GetResources"}
		// A drift check starts with the tagging lookup; wait for one to finish (sync period 2s).
		must(t, rig.Eventually(10*time.Second, 100*time.Millisecond, func() error {
			if s.calls.Since(before)[lookup] == 0 {
				return fmt.Errorf("no drift check ran yet")
			}
			return nil
		}))
		// ...and for that reconcile to return, so every call of the check is counted.
		n := reconciles()
		must(t, rig.Eventually(10*time.Second, 50*time.Millisecond, func() error {
			if reconciles() <= n {
				return fmt.Errorf("the drift check has not returned yet")
			}
			return nil
		}))
		calls := s.calls.Since(before)
		if w := mutating(calls); len(w) != 0 {
			t.Fatalf("a drift check without drift wrote: %v", clients.Format(w))
		}
		t.Logf("AWS calls of a drift check without drift: %s", strings.Join(clients.Format(calls), " "))
	})

	// Someone edits our resources by hand.
	_, err := s.elb.ModifyTargetGroup(s.ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: tg.TargetGroupArn, HealthCheckPath: aws.String("/wrong")})
	must(t, err)
	_, err = s.elb.DeregisterTargets(s.ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []elbv2types.TargetDescription{{Id: aws.String(s.env.Instances[0].ID)}}})
	must(t, err)
	_, err = s.elb.DeleteListener(s.ctx, &elbv2.DeleteListenerInput{ListenerArn: listeners[0].ListenerArn})
	must(t, err)

	must(t, rig.Eventually(waitAWS, 200*time.Millisecond, func() error {
		_, ls, now := s.loadBalancer(s.gatewayKey("gw"))
		if aws.ToString(now.HealthCheckPath) != "/healthz/ready" {
			return fmt.Errorf("health check path %s", aws.ToString(now.HealthCheckPath))
		}
		if got := strings.Join(s.targets(now.TargetGroupArn), ","); got != wantTargets {
			return fmt.Errorf("targets %s, want %s", got, wantTargets)
		}
		if len(ls) != 2 {
			return fmt.Errorf("listeners %d", len(ls))
		}
		return nil
	}))
	now, _, _ := s.loadBalancer(s.gatewayKey("gw"))
	if aws.ToString(now.LoadBalancerArn) != aws.ToString(lb.LoadBalancerArn) {
		t.Fatal("the drift repair replaced the ALB")
	}
}
