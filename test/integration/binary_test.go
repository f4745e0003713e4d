package integration_test

import (
	"sync"

	"bytes"
	"context"
	"fmt"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/tools/clientcmd"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func buildOperator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "istio-alb-operator")
	out, err := exec.Command("go", "build", "-o", bin, filepath.Join(rig.Root(), "cmd", "istio-alb-operator")).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

func TestTheOperatorBinaryRunWithItsFlagsBuildsTheALBAndServesHealthz(t *testing.T) {
	s := newScenario(t, scenarioOptions{noManager: true})
	bin := buildOperator(t)

	t.Run("without --cluster-name it exits with a clear message", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--cluster-name is required") {
			t.Fatalf("want a failure naming --cluster-name, got %v: %s", err, out)
		}
	})

	// The binary acts as the chart's ServiceAccount (kubeconfig impersonation), leader election
	// included, so the namespaced leader-election Role is exercised too.
	user, err := controlPlane.Env.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	must(t, err)
	kubeconfig, err := user.KubeConfig()
	must(t, err)
	kc, err := clientcmd.Load(kubeconfig)
	must(t, err)
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + rig.OperatorNamespace + ":" + rig.OperatorServiceAccount
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + rig.OperatorNamespace, "system:authenticated"}
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, kcPath))
	probes, metrics := freePort(t), freePort(t)

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--cluster-name", clusterName, "--kubeconfig", kcPath,
		"--health-probe-bind-address", probes, "--metrics-bind-address", metrics, "--sync-period", "5m",
		"--leader-elect", "--leader-election-namespace", rig.OperatorNamespace)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+rig.Endpoint(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("the operator did not stop within 20s of SIGTERM")
			}
			if t.Failed() {
				t.Logf("operator logs:\n%s", logs.String())
			}
		})
	}
	defer stop()

	must(t, rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get("http://" + probes + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz answered %d", resp.StatusCode)
		}
		return nil
	}))

	s.article("/healthz/ready")
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw", s.selector, []string{articleHost}, enabled)))
	dns := s.waitDNS("gw")
	if !strings.Contains(dns, "elb.amazonaws.com") {
		t.Fatalf("unexpected ALB DNS name %q", dns)
	}
	if by := s.owned(s.gatewayKey("gw")); len(by["lb"]) != 1 || len(by["tg"]) != 1 || len(by["sg"]) != 1 {
		t.Fatalf("owned resources %v", by)
	}

	// The metrics endpoint serves the operator's families, parsed as Prometheus does.
	families := scrape(t, "http://"+metrics+"/metrics")
	value := func(name string, labels map[string]string) (float64, bool) {
		fam, ok := families[name]
		if !ok {
			return 0, false
		}
		for _, m := range fam.Metric {
			match := true
			for k, v := range labels {
				match = match && labelIs(m, k, v)
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"istio_alb_aws_api_calls_total", map[string]string{"service": "Elastic Load Balancing v2", "operation": "CreateLoadBalancer", "outcome": "success"}, 1},
		{"istio_alb_aws_api_calls_total", map[string]string{"service": "EC2", "operation": "DescribeInstances", "outcome": "success"}, 1},
		{"istio_alb_managed_gateways", map[string]string{"kind": "istio"}, 1},
		{"istio_alb_gateway_programmed_seconds", map[string]string{"kind": "istio"}, 1},
		{"istio_alb_reconcile_duration_seconds", map[string]string{"kind": "istio", "result": "success"}, 1},
		{"controller_runtime_reconcile_total", map[string]string{"controller": "istio-gateway", "result": "requeue_after"}, 1},
	} {
		if v, ok := value(c.name, c.labels); !ok || v < c.min {
			t.Errorf("metric %s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if v, _ := value("istio_alb_managed_gateways", map[string]string{"kind": "istio"}); v != 1 {
		t.Errorf("istio_alb_managed_gateways{kind=istio} = %v, want 1", v)
	}

	// It led through its lease, and SIGTERM hands the lease over at once.
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: rig.OperatorNamespace, Name: "istio-alb-operator.istio-alb.io"}
	must(t, s.k8s.Get(s.ctx, key, lease))
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("the lease has no holder while the operator runs: %+v", lease.Spec)
	}
	stop()
	must(t, s.k8s.Get(s.ctx, key, lease))
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Fatalf("the lease is still held by %s after SIGTERM", *h)
	}
}

// scrape reads a Prometheus text endpoint.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s answered %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	must(t, err)
	return families
}
