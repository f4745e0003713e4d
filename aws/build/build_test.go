package build

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func article() *frontend.Frontend {
	return &frontend.Frontend{
		Kind: frontend.KindIstio, Namespace: "test-ns", Name: "test-gateway",
		Service: types.NamespacedName{Namespace: "istio-system", Name: "istio-ingressgateway"},
		ServicePorts: []frontend.ServicePort{
			{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021), NodePort: 31021},
			{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
			{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30443},
		},
		Probe:   &frontend.Probe{Path: "/healthz/ready", Port: intstr.FromInt32(15021)},
		Servers: []frontend.Server{{Port: 80, Protocol: "HTTP", Hosts: []string{"istio-test-alb.example.com"}}},
		Nodes:   []frontend.Node{{Name: "n2", InstanceID: "i-222", Zone: "us-east-1b"}, {Name: "n1", InstanceID: "i-111", Zone: "us-east-1a"}},
	}
}

var env = Environment{VPCID: "vpc-1", Subnets: []string{"subnet-b", "subnet-a"}, NodeSecurityGroupID: "sg-nodes"}

func TestBuildMatchesTheGoldenStacks(t *testing.T) {
	tls := func(e *Environment) {
		e.Certificates = []string{"arn:aws:acm:us-east-1:123456789012:certificate/wild", "arn:aws:acm:us-east-1:123456789012:certificate/org"}
		e.SSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	}
	cases := []struct {
		golden      string
		annotations map[string]string
		env         func(*Environment)
		frontend    func(*frontend.Frontend)
	}{
		{golden: "https-redirect.json", annotations: map[string]string{annotations.Enabled: "true"}, env: tls},
		{golden: "https-no-redirect.json", annotations: map[string]string{annotations.Enabled: "true", annotations.SSLRedirect: "false"}, env: tls},
		{golden: "simple-tls-server-only.json", annotations: map[string]string{annotations.Enabled: "true"}, env: tls, frontend: func(fe *frontend.Frontend) {
			fe.Servers = []frontend.Server{{Port: 443, Protocol: "HTTPS", Hosts: []string{"a.example.com"}, TLSMode: frontend.TLSSimple}}
		}},
		{golden: "article.json", annotations: map[string]string{annotations.Enabled: "true"}},
		{golden: "grpc-server-attributes.json", annotations: map[string]string{annotations.Enabled: "true",
			annotations.TargetGroupAttributes: "deregistration_delay.timeout_seconds=10,slow_start.duration_seconds=60"}, env: tls,
			frontend: func(fe *frontend.Frontend) {
				fe.Servers = []frontend.Server{{Port: 80, Protocol: "GRPC", Hosts: []string{"grpc.example.com"}}}
			}},
		{golden: "internal-dualstack-tagged.json", annotations: map[string]string{annotations.Enabled: "true", annotations.Scheme: "internal",
			annotations.IPAddressType: "dualstack", annotations.Tags: "team=web", annotations.InboundCIDRs: "10.0.0.0/8,fd00::/8",
			annotations.LoadBalancerAttributes: "idle_timeout.timeout_seconds=120", annotations.HealthCheckPort: "traffic-port"}},
		{golden: "ip-targets.json", annotations: map[string]string{annotations.Enabled: "true", annotations.TargetType: "ip"}, frontend: ipPods},
	}
	owner := tags.Owner{Cluster: "demo", GatewayKey: "istio/test-ns/test-gateway"}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			cfg, errs := annotations.Parse(c.annotations)
			if len(errs) > 0 {
				t.Fatal(errs.ToAggregate())
			}
			fe, e := article(), env
			if c.env != nil {
				c.env(&e)
			}
			if c.frontend != nil {
				c.frontend(fe)
			}
			stack, err := Build(owner, fe, cfg, e)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(stack, "", "  ")
			path := filepath.Join("testdata", c.golden)
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./aws/build -update)", err)
			}
			if string(want) != string(got)+"\n" {
				t.Fatalf("stack differs from %s:\n%s", path, got)
			}
		})
	}
}

func TestTheStackHashFollowsEveryInputThatMatters(t *testing.T) {
	cfg, _ := annotations.Parse(map[string]string{annotations.Enabled: "true"})
	owner := tags.Owner{Cluster: "demo", GatewayKey: "istio/test-ns/test-gateway"}
	base, _ := Build(owner, article(), cfg, env)
	changes := map[string]func(fe *frontend.Frontend, e *Environment){
		"a node leaves":              func(fe *frontend.Frontend, _ *Environment) { fe.Nodes = fe.Nodes[:1] },
		"the traffic nodePort moves": func(fe *frontend.Frontend, _ *Environment) { fe.ServicePorts[1].NodePort = 30081 },
		"the status nodePort moves":  func(fe *frontend.Frontend, _ *Environment) { fe.ServicePorts[0].NodePort = 31022 },
		"the probe path changes":     func(fe *frontend.Frontend, _ *Environment) { fe.Probe.Path = "/other" },
		"a subnet changes":           func(_ *frontend.Frontend, e *Environment) { e.Subnets = []string{"subnet-a", "subnet-c"} },
		"the node group changes":     func(_ *frontend.Frontend, e *Environment) { e.NodeSecurityGroupID = "sg-other" },
	}
	for sentence, change := range changes {
		t.Run(sentence, func(t *testing.T) {
			fe, e := article(), env
			change(fe, &e)
			s, err := Build(owner, fe, cfg, e)
			if err != nil {
				t.Fatal(err)
			}
			if s.Hash() == base.Hash() {
				t.Fatal("the hash did not change, so the change would never be applied")
			}
		})
	}
	again, _ := Build(owner, article(), cfg, env)
	if again.Hash() != base.Hash() {
		t.Fatal("the same input must give the same hash")
	}
}

func TestAnALBNeedsTwoZones(t *testing.T) {
	cfg, _ := annotations.Parse(map[string]string{annotations.Enabled: "true"})
	_, err := Build(tags.Owner{Cluster: "c", GatewayKey: "istio/a/b"}, article(), cfg, Environment{VPCID: "v", Subnets: []string{"s"}, NodeSecurityGroupID: "g"})
	if err == nil {
		t.Fatal("one subnet must be refused")
	}
}
