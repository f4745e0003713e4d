package integration_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/test/faults"
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

// BenchmarkScale programs a fleet of N Gateways on one Service with the operator binary (through
// a counting proxy in front of the AWS endpoint), then restarts it and lets one drift pass run,
// and prints one table (N = 1, 25, 50, 200): time until all ALBs are programmed, AWS calls per gateway, the calls of
// one drift pass over the unchanged fleet and of a restart, the operator's peak RSS and the node
// security group's rules. Run with -benchtime 1x (make bench does).
func BenchmarkScale(b *testing.B) {
	type row struct {
		n                           int
		program                     time.Duration
		writes, reads               int
		passReads, passWrites       int
		restartReads, restartWrites int
		rss                         float64
		nodeRules                   int
	}
	var rows []row
	for _, n := range []int{1, 25, 50, 200} {
		b.Run(fmt.Sprintf("gateways=%d", n), func(b *testing.B) {
			t := b
			s := newScenario(t, scenarioOptions{noManager: true})
			proxy, err := faults.Start(rig.Endpoint())
			must(t, err)
			defer proxy.Close()
			kubeconfig := operatorKubeconfig(t, controlPlane.Env)
			// The operator runs and is ready before the clock starts: the fleet is created on a
			// running operator.
			probes := freePort(t)
			first := s.startOperator(kubeconfig, proxy.URL(), "--sync-period", "1h", "--health-probe-bind-address", probes)
			must(t, rig.Eventually(time.Minute, 100*time.Millisecond, func() error {
				resp, err := http.Get("http://" + probes + "/readyz")
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("/readyz answered %d", resp.StatusCode)
				}
				return nil
			}))
			b.ResetTimer()
			start := time.Now()
			f := s.fleet(n)
			f.waitProgrammed(5 * time.Minute)
			r := row{n: n, program: time.Since(start)}
			b.StopTimer()
			waitQuiet(t, proxy, 2*time.Second, time.Minute)
			r.reads, r.writes = countCalls(proxy.Calls())
			r.rss = peakRSS(first.cmd.Process.Pid)
			r.nodeRules = len(s.inventory().NodeRules)
			first.stop()

			// A restart of the converged operator; its first pass runs at once, the next one a
			// sync period later.
			const sync = 30 * time.Second
			mark := len(proxy.Calls())
			metrics := freePort(t)
			second := s.startOperator(kubeconfig, proxy.URL(), "--sync-period", sync.String(), "--metrics-bind-address", metrics)
			passes := func(n float64) {
				must(t, rig.Eventually(2*time.Minute, 200*time.Millisecond, func() error {
					families, err := tryScrape("http://" + metrics + "/metrics")
					if err != nil {
						return err
					}
					for _, m := range families["istio_alb_drift_passes_total"].GetMetric() {
						if labelIs(m, "result", "success") && m.GetCounter().GetValue() >= n {
							return nil
						}
					}
					return fmt.Errorf("fewer than %v drift passes", n)
				}))
				waitQuiet(t, proxy, 3*time.Second, 2*time.Minute)
			}
			passes(1) // the pass at start, and the reconciles that adopt what it found
			r.restartReads, r.restartWrites = countCalls(proxy.Calls()[mark:])
			mark = len(proxy.Calls())
			passes(2) // a pass over the unchanged fleet
			r.passReads, r.passWrites = countCalls(proxy.Calls()[mark:])
			r.rss = max(r.rss, peakRSS(second.cmd.Process.Pid))

			f.deleteAll(5 * time.Minute)
			second.stop()
			rows = append(rows, r)
			b.ReportMetric(r.program.Seconds(), "s-to-program")
		})
	}
	fmt.Printf("\n%-9s %12s %14s %14s %18s %20s %10s %10s\n", "gateways", "programmed", "writes/gw", "reads/gw", "drift pass r/w", "restart r/gw, w", "peak RSS", "node rules")
	for _, r := range rows {
		fmt.Printf("%-9d %12s %14.1f %14.1f %13d/%-4d %15.2f, %-4d %7.0fMiB %10d\n", r.n, r.program.Round(10*time.Millisecond),
			float64(r.writes)/float64(r.n), float64(r.reads)/float64(r.n), r.passReads, r.passWrites,
			float64(r.restartReads)/float64(r.n), r.restartWrites, r.rss, r.nodeRules)
	}
}
