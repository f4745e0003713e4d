package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// testVersion is the version the scenario builds into the binary, as the Makefile does.
const testVersion = "v0.0.0-binary-scenario"

func buildOperator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "istio-alb-operator")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, filepath.Join(rig.Root(), "cmd", "istio-alb-operator")).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t testing.TB) string {
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

	t.Run("--version prints the version the build set", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if want := "istio-alb-operator " + testVersion + " " + runtime.Version() + "\n"; err != nil || string(out) != want {
			t.Fatalf("--version: %v, %q; want %q", err, out, want)
		}
	})

	// The binary acts as the chart's ServiceAccount (kubeconfig impersonation), leader election
	// included, so the namespaced leader-election Role is exercised too.
	kcPath := operatorKubeconfig(t, controlPlane.Env)
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
	// Ready: its informer caches have synced.
	must(t, rig.Eventually(10*time.Second, 100*time.Millisecond, func() error {
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

	// A real AWS failure: a certificate ARN of the account and region that does not exist makes
	// ACM's DescribeCertificate fail with ResourceNotFoundException (the Gateway gets an
	// InvalidAnnotation Event and nothing is built for it).
	missingARN := s.env.CertificateARN[:strings.LastIndex(s.env.CertificateARN, "/")+1] + "00000000-0000-0000-0000-000000000000"
	badCert := map[string]string{"istio-alb.io/enabled": "true", "istio-alb.io/certificate-arns": missingARN}
	must(t, s.k8s.Create(s.ctx, fixtures.Gateway(s.appNS, "gw-missing-cert", s.selector, []string{"missing-cert.example.com"}, badCert)))
	if msg := s.event(s.appNS, "gw-missing-cert", build.ReasonInvalidAnnotation); !strings.Contains(msg, missingARN) {
		t.Fatalf("InvalidAnnotation event %q does not name %s", msg, missingARN)
	}
	if by := s.owned(s.gatewayKey("gw-missing-cert")); len(by) != 0 {
		t.Fatalf("AWS resources were created for a Gateway naming a missing certificate: %v", by)
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
				match = match && labelValue(m, k) == v
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
		{"istio_alb_aws_api_calls_total", map[string]string{"service": "Elastic Load Balancing v2", "operation": "CreateLoadBalancer", "outcome": "success", "error_code": ""}, 1},
		{"istio_alb_aws_api_calls_total", map[string]string{"service": "EC2", "operation": "DescribeInstances", "outcome": "success", "error_code": ""}, 1},
		{"istio_alb_aws_api_calls_total", map[string]string{"service": "ACM", "operation": "DescribeCertificate", "outcome": "error", "error_code": "ResourceNotFoundException"}, 1},
		{"istio_alb_build_info", map[string]string{"version": testVersion, "go_version": runtime.Version()}, 1},
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
	// A missing certificate is no permission error; the series exists from the start at zero.
	if v, ok := value("istio_alb_aws_permission_errors_total", map[string]string{"service": "ACM", "operation": "DescribeCertificate"}); !ok || v != 0 {
		t.Errorf("istio_alb_aws_permission_errors_total{service=ACM,operation=DescribeCertificate} = %v (present %v), want a 0 series", v, ok)
	}

	// The chart's Grafana dashboard queries only metrics this binary serves.
	for _, name := range dashboardMetrics(t) {
		if !served(families, name) {
			t.Errorf("the Grafana dashboard queries %s, which the operator does not serve", name)
		}
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

// labelValue is the value of the metric's label, "" when it has none.
func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// served reports whether a scrape holds the series name: a family of that name, or the _bucket,
// _sum or _count series of a histogram or summary.
func served(families map[string]*dto.MetricFamily, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := families[base]; ok {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				return true
			case dto.MetricType_SUMMARY:
				return suffix != "_bucket"
			}
		}
	}
	return false
}

const dashboardFile = "charts/istio-alb-operator/dashboards/istio-alb-operator.json"

// dashboardMetrics parses the chart's Grafana dashboard and returns every metric name its
// panel and variable queries read, sorted.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rig.Root(), dashboardFile))
	must(t, err)
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage
	}
	var dash struct {
		Title, UID string
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s has no title, uid or panels", dashboardFile)
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			must(t, json.Unmarshal(r, &p))
			for _, target := range p.Targets {
				if target.Expr == "" {
					t.Errorf("panel %q has a target without a PromQL expression", p.Title)
				}
				exprs = append(exprs, target.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if json.Unmarshal(v.Query, &q) != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // older dashboards: the query as a plain string
		}
		// label_values(<series selector>, <label>): the selector is PromQL.
		if m := labelValuesQuery.FindStringSubmatch(q.Query); m != nil {
			exprs = append(exprs, m[1])
		}
	}
	names := map[string]bool{}
	for _, e := range exprs {
		for _, n := range promqlMetricNames(e) {
			names[n] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

var (
	labelValuesQuery = regexp.MustCompile(`^\s*label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
	promString       = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers     = regexp.MustCompile(`\{[^{}]*\}`)
	promRange        = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping     = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdentifier   = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords     = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// promqlMetricNames returns the metric names a PromQL expression selects: what is left once
// strings, label matchers, ranges and grouping clauses are removed, minus functions, keywords and
// Grafana variables.
func promqlMetricNames(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promIdentifier.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		before := byte(' ')
		if loc[0] > 0 {
			before = e[loc[0]-1]
		}
		function := strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(")
		if function || promKeywords[strings.ToLower(name)] || before == '$' || before == '.' || (before >= '0' && before <= '9') {
			continue
		}
		out = append(out, name)
	}
	return out
}

// scrape reads a Prometheus text endpoint.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := tryScrape(url)
	must(t, err)
	return families
}

// tryScrape reads and parses a metrics endpoint.
func tryScrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func TestTheGrafanaDashboardParsesAndQueriesTheOperatorsMetrics(t *testing.T) {
	// Runs without the rig; the binary scenario checks that the operator serves each name.
	names := dashboardMetrics(t)
	t.Logf("the dashboard queries %v", names)
	for _, want := range []string{
		"istio_alb_managed_gateways", "istio_alb_gateway_programmed_seconds_bucket",
		"istio_alb_reconcile_duration_seconds_bucket", "istio_alb_reconcile_duration_seconds_count",
		"istio_alb_aws_api_calls_total", "istio_alb_aws_permission_errors_total",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("the dashboard does not query %s; it queries %v", want, names)
		}
	}
	data, err := os.ReadFile(filepath.Join(rig.Root(), dashboardFile))
	must(t, err)
	for _, want := range []string{`error_code`, `outcome=\"throttled\"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the dashboard has no query on %s", want)
		}
	}
}

func TestPromQLMetricNamesAreWhatAnExpressionSelects(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (kind) (istio_alb_managed_gateways{namespace=~"$namespace"})`, []string{"istio_alb_managed_gateways"}},
		{`histogram_quantile(0.99, sum by (le, kind) (rate(a_seconds_bucket{x="y"}[$__rate_interval])))`, []string{"a_seconds_bucket"}},
		{`sum(increase(a_sum[$__range])) / sum(increase(a_count[5m])) > 1e3`, []string{"a_sum", "a_count"}},
		{`sum(rate(x_total{outcome!="success"}[5m])) by (service) and on (service) up offset 5m`, []string{"x_total", "up"}},
		{`label_replace(b, "dst", "$1", "src", "(.*)")`, []string{"b"}},
	} {
		if got := promqlMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promqlMetricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}
