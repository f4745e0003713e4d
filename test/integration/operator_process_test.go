package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/localstack/seed"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// kubeconfigAs writes a kubeconfig for the control plane's API server that acts as user (with
// groups) through impersonation by an admin, as `kubectl --as` does; an empty user is the admin.
func kubeconfigAs(t testing.TB, env *envtest.Environment, user string, groups ...string) string {
	t.Helper()
	admin, err := env.AddUser(envtest.User{Name: "kubeconfig-admin", Groups: []string{"system:masters"}}, nil)
	must(t, err)
	data, err := admin.KubeConfig()
	must(t, err)
	kc, err := clientcmd.Load(data)
	must(t, err)
	if user != "" {
		for _, ai := range kc.AuthInfos {
			ai.Impersonate, ai.ImpersonateGroups = user, groups
		}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// operatorKubeconfig acts as the chart's ServiceAccount.
func operatorKubeconfig(t testing.TB, env *envtest.Environment) string {
	return kubeconfigAs(t, env, "system:serviceaccount:"+rig.OperatorNamespace+":"+rig.OperatorServiceAccount,
		"system:serviceaccounts", "system:serviceaccounts:"+rig.OperatorNamespace, "system:authenticated")
}

// syncBuffer is a buffer the operator process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// operatorProcess is the operator binary running against a control plane.
type operatorProcess struct {
	t               *testing.T
	logs            *syncBuffer
	probes, metrics string
	stop            func()
}

// startOperator runs the binary with the cluster name, kubeconfig, probe and metrics addresses
// and the rig's AWS endpoint, plus args; it is stopped with SIGTERM at the end of the test.
func startOperator(t *testing.T, bin, kubeconfig string, args ...string) *operatorProcess {
	t.Helper()
	p := &operatorProcess{t: t, logs: &syncBuffer{}, probes: freePort(t), metrics: freePort(t)}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"--cluster-name", clusterName, "--kubeconfig", kubeconfig,
		"--health-probe-bind-address", p.probes, "--metrics-bind-address", p.metrics, "--sync-period", "5m",
		"--leader-elect", "--leader-election-namespace", rig.OperatorNamespace}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+rig.Endpoint(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("the operator did not stop within 20s of SIGTERM")
			}
			if t.Failed() {
				t.Logf("operator logs:\n%s", p.logs.String())
			}
		})
	}
	t.Cleanup(p.stop)
	must(t, rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		code, _, err := get("http://" + p.probes + "/healthz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/healthz answered %d", code)
		}
		return err
	}))
	return p
}

// readyz returns /readyz?verbose once it answers 200.
func (p *operatorProcess) readyz() string {
	p.t.Helper()
	var body string
	must(p.t, rig.Eventually(20*time.Second, 100*time.Millisecond, func() error {
		code, b, err := get("http://" + p.probes + "/readyz?verbose")
		body = b
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/readyz answered %d: %s", code, b)
		}
		return err
	}))
	return body
}

// controllerEnabled is istio_alb_controller_enabled{controller} as the binary serves it.
func (p *operatorProcess) controllerEnabled(controller string) (float64, bool) {
	p.t.Helper()
	// The metrics server starts after the controllers log that they are on.
	must(p.t, rig.Eventually(20*time.Second, 100*time.Millisecond, func() error {
		_, _, err := get("http://" + p.metrics + "/metrics")
		return err
	}))
	fam, ok := scrape(p.t, "http://"+p.metrics+"/metrics")["istio_alb_controller_enabled"]
	if !ok {
		return 0, false
	}
	for _, m := range fam.Metric {
		if labelValue(m, "controller") == controller {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// waitLog waits until the operator's logs hold every one of the strings on one line.
func (p *operatorProcess) waitLog(parts ...string) string {
	p.t.Helper()
	var found string
	err := rig.Eventually(30*time.Second, 100*time.Millisecond, func() error {
		for _, line := range strings.Split(p.logs.String(), "\n") {
			all := true
			for _, s := range parts {
				all = all && strings.Contains(line, s)
			}
			if all {
				found = line
				return nil
			}
		}
		return fmt.Errorf("no log line holds %q", parts)
	})
	if err != nil {
		p.t.Fatalf("%v; logs:\n%s", err, p.logs.String())
	}
	return found
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// newScenarioOn is newScenario's world — a freshly seeded AWS account, namespaces and Nodes —
// on another control plane, without an in-process operator (the binary runs instead).
func newScenarioOn(t *testing.T, cfg *rest.Config) *scenario {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	n := scenarioN.Add(1)
	s := &scenario{t: t, ctx: ctx, calls: &clients.Recorder{},
		istioNS: fmt.Sprintf("istio-system-%d", n), appNS: fmt.Sprintf("test-ns-%d", n),
		selector: map[string]string{"istio": fmt.Sprintf("ingressgateway-%d", n)},
		opts:     scenarioOptions{nodes: 2, initialNodes: 2, noManager: true, syncPeriod: 10 * time.Minute}}
	var err error
	s.k8s, err = client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	must(t, err)
	s.awsCfg, err = rig.AWSConfig(ctx)
	must(t, err)
	must(t, seed.Reset(ctx, rig.Endpoint()))
	s.env, err = seed.Seed(ctx, s.awsCfg, seed.Options{ClusterName: clusterName, Nodes: s.opts.nodes})
	must(t, err)
	s.ec2, s.elb, s.tagging = ec2.NewFromConfig(s.awsCfg), elbv2.NewFromConfig(s.awsCfg), tagging.NewFromConfig(s.awsCfg)
	for _, ns := range []string{s.istioNS, s.appNS} {
		must(t, client.IgnoreAlreadyExists(s.k8s.Create(ctx, fixtures.Namespace(ns))))
	}
	for i := 0; i < s.opts.initialNodes; i++ {
		s.addNode(i, true)
	}
	t.Cleanup(s.cleanup)
	return s
}
