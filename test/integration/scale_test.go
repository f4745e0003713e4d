package integration_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/test/faults"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// fleet is n Istio Gateways on the article's one ingress Service (one gateway deployment, a
// Gateway object per team), each with its own host.
type fleet struct {
	s     *scenario
	svc   *corev1.Service
	names []string
}

func (s *scenario) fleet(n int) *fleet {
	s.t.Helper()
	f := &fleet{s: s, svc: s.article("/healthz/ready")}
	for i := range n {
		name := fmt.Sprintf("team-%03d", i)
		f.names = append(f.names, name)
		must(s.t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, name, s.selector, []string{name + ".example.com"}, enabled)))
	}
	return f
}

// programmed counts the Gateways with their ALB's DNS name published.
func (f *fleet) programmed() int {
	var list istionet.GatewayList
	must(f.s.t, f.s.k8s.List(f.s.ctx, &list, client.InNamespace(f.s.appNS)))
	n := 0
	for _, gw := range list.Items {
		if gw.Annotations["istio-alb.io/load-balancer-dns"] != "" {
			n++
		}
	}
	return n
}

// waitProgrammed waits until every Gateway is programmed and the Service cut over.
func (f *fleet) waitProgrammed(timeout time.Duration) {
	f.s.t.Helper()
	must(f.s.t, rig.Eventually(timeout, 100*time.Millisecond, func() error {
		if n := f.programmed(); n < len(f.names) {
			return fmt.Errorf("%d of %d gateways programmed", n, len(f.names))
		}
		return nil
	}))
	f.s.waitServiceType(f.svc, corev1.ServiceTypeNodePort)
}

// deleteAll deletes every Gateway and waits for their teardown.
func (f *fleet) deleteAll(timeout time.Duration) {
	f.s.t.Helper()
	for _, name := range f.names {
		must(f.s.t, client.IgnoreNotFound(f.s.k8s.Delete(f.s.ctx, fixtures.Gateway(f.s.appNS, name, nil, nil, nil))))
	}
	must(f.s.t, rig.Eventually(timeout, 200*time.Millisecond, func() error {
		left := 0
		for _, name := range f.names {
			var gw istionet.Gateway
			if err := f.s.k8s.Get(f.s.ctx, client.ObjectKey{Namespace: f.s.appNS, Name: name}, &gw); !apierrors.IsNotFound(err) {
				left++
			}
		}
		if left > 0 {
			return fmt.Errorf("%d gateways not torn down yet", left)
		}
		return nil
	}))
}

// countCalls splits calls into reads and writes.
func countCalls(calls []faults.Call) (reads, writes int) {
	for _, c := range calls {
		if c.Write {
			writes++
		} else {
			reads++
		}
	}
	return reads, writes
}

// waitQuiet waits until the proxy has seen no call for the quiet period, at most timeout.
func waitQuiet(t testing.TB, p *faults.Proxy, quiet, timeout time.Duration) {
	t.Helper()
	must(t, rig.Eventually(timeout, quiet/4, func() error {
		calls := p.Calls()
		if len(calls) > 0 && time.Since(calls[len(calls)-1].At) < quiet {
			return fmt.Errorf("AWS still called %s ago", time.Since(calls[len(calls)-1].At))
		}
		return nil
	}))
}

// peakRSS is the process's peak resident set size in MiB (VmHWM).
func peakRSS(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func TestFortyGatewaysOnOneServiceShareTheNodeRulesAndLeaveNothingBehind(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	foreignBefore := s.addForeign()
	proxy := startProxy(t)
	f := s.fleet(40)
	op := s.startOperator(operatorKubeconfig(t, controlPlane.Env), proxy.URL(), append([]string{"--sync-period", "1h"}, strings.Fields(os.Getenv("SCALE_ARGS"))...)...)
	start := time.Now()
	f.waitProgrammed(3 * time.Minute)
	elapsed := time.Since(start)
	inv := s.inventory()
	reads, writes := countCalls(proxy.Calls())
	t.Logf("40 gateways programmed in %s: %d AWS writes and %d reads (%.1f and %.1f per gateway); node security group rules %v",
		elapsed.Round(time.Millisecond), writes, reads, float64(writes)/40, float64(reads)/40, inv.NodeRules)
	byOp := map[string]time.Duration{}
	count := map[string]int{}
	for _, c := range proxy.Calls() {
		byOp[c.Operation] += c.Took
		count[c.Operation]++
	}
	for op, d := range byOp {
		t.Logf("  %-32s %4d calls %8s total %6s each", op, count[op], d.Round(time.Millisecond), (d / time.Duration(count[op])).Round(time.Millisecond))
	}
	if len(inv.NodeRules) != 2 {
		t.Fatalf("40 gateways on one Service need the node rules of its 2 nodePorts once, have %v", inv.NodeRules)
	}
	if got := len(inv.LoadBalancers) - len(foreignBefore.before.LoadBalancers); got != 40 {
		t.Fatalf("%d ALBs for 40 gateways", got)
	}
	f.deleteAll(3 * time.Minute)
	s.waitServiceType(f.svc, corev1.ServiceTypeLoadBalancer)
	op.stop()
	s.assertOnlyForeign(foreignBefore)
}
