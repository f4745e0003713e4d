package integration_test

import (
	"fmt"
	"testing"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// BenchmarkGatewayToALB measures, per annotated Gateway, the time from creating it to its ALB's
// DNS name being published, and the AWS calls (all, and writes) the create made. Each iteration
// then deletes the Gateway and waits for the teardown, outside the timer.
func BenchmarkGatewayToALB(b *testing.B) {
	s := newScenario(b, scenarioOptions{})
	s.article("/healthz/ready")
	var calls, writes int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d", i)
		before := s.calls.Snapshot()
		must(b, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, name, s.selector, []string{articleHost}, enabled)))
		s.waitDNS(name)
		b.StopTimer()
		made := s.calls.Since(before)
		calls += total(made)
		writes += total(mutating(made))
		gw := &istionet.Gateway{}
		must(b, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: name}, gw))
		must(b, s.k8s.Delete(s.ctx, gw))
		must(b, rig.Eventually(30*time.Second, 50*time.Millisecond, func() error {
			if err := s.k8s.Get(s.ctx, client.ObjectKeyFromObject(gw), gw); err == nil {
				return fmt.Errorf("gateway %s not deleted yet", name)
			}
			return nil
		}))
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "aws-calls/op")
	b.ReportMetric(float64(writes)/float64(b.N), "aws-writes/op")
}

// BenchmarkIdleReconcile measures a reconcile of an unchanged Gateway, and its AWS calls (the
// goal is zero: the desired stack's hash equals the last apply's).
func BenchmarkIdleReconcile(b *testing.B) {
	s := newScenario(b, scenarioOptions{})
	s.article("/healthz/ready")
	must(b, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	s.waitDNS("gw")
	before := s.calls.Snapshot()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := reconciles()
		gw := &istionet.Gateway{}
		must(b, s.k8s.Get(s.ctx, client.ObjectKey{Namespace: s.appNS, Name: "gw"}, gw))
		gw.Labels = map[string]string{"touch": fmt.Sprint(i)}
		must(b, s.k8s.Update(s.ctx, gw))
		must(b, rig.Eventually(20*time.Second, 5*time.Millisecond, func() error {
			if reconciles() <= n {
				return fmt.Errorf("no reconcile yet")
			}
			return nil
		}))
	}
	b.ReportMetric(float64(total(s.calls.Since(before)))/float64(b.N), "aws-calls/op")
}
