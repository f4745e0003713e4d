package build

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// ipPods gives the article's gateway two ready pods, and its http2 port a named targetPort the
// pods' container ports resolve.
func ipPods(fe *frontend.Frontend) {
	fe.PodIPs = []string{"10.0.101.7", "10.0.100.5"}
	fe.ContainerPorts = map[string]int32{"http2": 8080, "status-port": 15021}
	fe.ServicePorts[1].TargetPort = intstr.FromString("http2")
}

func ipInput() Input {
	in := planInput()
	in.Annotations[annotations.TargetType] = annotations.TargetTypeIP
	ipPods(in.Gateway)
	return in
}

func TestIPTargetsArePlannedOnThePodsAndLeaveTheServiceAlone(t *testing.T) {
	cases := []struct {
		sentence string
		change   func(*Input)
		problems [][]string
		check    func(*testing.T, *GatewayPlan)
	}{
		{
			sentence: "the ready pods are the targets on the container port, health-checked on 15021, and the Service is not switched",
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceUnchanged {
					t.Fatalf("stack %v prepare %q cutover %q", p.Stack != nil, p.Prepare, p.Cutover)
				}
				tg := p.Stack.TargetGroups[0]
				if tg.TargetType != "ip" || tg.Port != 8080 || tg.HealthCheck.Port != "15021" || tg.HealthCheck.Path != "/healthz/ready" {
					t.Fatalf("target group %+v", tg)
				}
				if got := targetsOf(p); got != "10.0.100.5:8080,10.0.101.7:8080" {
					t.Fatalf("targets %s", got)
				}
				if n := p.Stack.NodeAccess; n.NodeSecurityGroupID != "sg-nodes" || !slices.Equal(n.Ports, []int32{8080, 15021}) {
					t.Fatalf("node access %+v, want the container ports on the node group", n)
				}
			},
		},
		{
			sentence: "a Service without nodePorts needs none",
			change: func(in *Input) {
				no := false
				in.Gateway.AllocateLoadBalancerNodePorts = &no
				for i := range in.Gateway.ServicePorts {
					in.Gateway.ServicePorts[i].NodePort = 0
				}
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceUnchanged || p.Waiting != "" {
					t.Fatalf("stack %v prepare %q cutover %q waiting %q", p.Stack != nil, p.Prepare, p.Cutover, p.Waiting)
				}
			},
		},
		{
			sentence: "a ClusterIP Service is not switched either",
			change:   func(in *Input) { in.Gateway.ServiceType = "ClusterIP" },
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceUnchanged {
					t.Fatalf("prepare %q cutover %q", p.Prepare, p.Cutover)
				}
			},
		},
		{
			sentence: "istiod is not asked for a NodePort Service, and a service-type it was asked for is no problem",
			change: func(in *Input) {
				in.Gateway.ServiceOwner = frontend.ServiceOwnerIstiod
				in.Gateway.RequestedServiceType = "LoadBalancer"
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Prepare != ServiceUnchanged || p.Cutover != ServiceUnchanged {
					t.Fatalf("prepare %q cutover %q", p.Prepare, p.Cutover)
				}
			},
		},
		{
			sentence: "no ready pod is a stack without targets, not a problem",
			change:   func(in *Input) { in.Gateway.PodIPs = nil },
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || len(p.Stack.TargetGroups[0].Targets) != 0 {
					t.Fatalf("stack %+v", p.Stack)
				}
			},
		},
		{
			sentence: "without nodes (Fargate) a known VPC is enough: the backend group is kept, no node group is touched",
			change: func(in *Input) {
				in.Gateway.Nodes = nil
				in.AWS.NodeSecurityGroupID = ""
			},
			check: func(t *testing.T, p *GatewayPlan) {
				if p.Stack == nil || p.Stack.NodeAccess == nil || p.Stack.NodeAccess.NodeSecurityGroupID != "" {
					t.Fatalf("stack %+v", p.Stack)
				}
			},
		},
		{
			sentence: "without nodes and without --vpc-id the VPC is reported missing, not the nodes",
			change: func(in *Input) {
				in.Gateway.Nodes = nil
				in.AWS.VPCID, in.AWS.NodeSecurityGroupID, in.AWS.Subnets = "", "", nil
			},
			problems: [][]string{{ReasonNetworkNotFound, "--vpc-id", annotations.TargetType}},
		},
		{
			sentence: "a named targetPort no container declares is reported",
			change:   func(in *Input) { delete(in.Gateway.ContainerPorts, "http2") },
			problems: [][]string{{ReasonInvalidGateway, annotations.TargetType, `"http2"`, "istio-system/istio-ingressgateway"}},
		},
		{
			sentence: "pods without a status port are reported",
			change: func(in *Input) {
				in.Gateway.Probe = nil
				in.Gateway.ServicePorts = in.Gateway.ServicePorts[1:]
			},
			problems: [][]string{{ReasonStatusPortNotFound, annotations.HealthCheckPort}},
		},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			in := ipInput()
			if c.change != nil {
				c.change(&in)
			}
			plan, problems := Plan(in)
			if len(c.problems) == 0 {
				if len(problems) > 0 {
					t.Fatalf("unexpected problems %v", problems)
				}
				c.check(t, plan)
				return
			}
			if plan != nil || len(problems) != len(c.problems) {
				t.Fatalf("plan %v, problems %v; want %v", plan != nil, problems, c.problems)
			}
			for _, want := range c.problems {
				if !slices.ContainsFunc(problems, func(p Problem) bool {
					if p.Reason != want[0] {
						return false
					}
					for _, w := range want[1:] {
						if !strings.Contains(p.Message, w) {
							return false
						}
					}
					return true
				}) {
					t.Errorf("no problem %v among %v", want, problems)
				}
			}
		})
	}
}

func TestTheIPStackHashFollowsThePodsNotTheNodePorts(t *testing.T) {
	cfg, _ := annotations.Parse(map[string]string{annotations.Enabled: "true", annotations.TargetType: "ip"})
	owner := tags.Owner{Cluster: "demo", GatewayKey: "istio/test-ns/test-gateway"}
	build := func(change func(*frontend.Frontend)) string {
		fe := article()
		ipPods(fe)
		if change != nil {
			change(fe)
		}
		s, err := Build(owner, fe, cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		return s.Hash()
	}
	base := build(nil)
	for sentence, change := range map[string]func(*frontend.Frontend){
		"a pod becomes unready":           func(fe *frontend.Frontend) { fe.PodIPs = fe.PodIPs[:1] },
		"a pod is replaced":               func(fe *frontend.Frontend) { fe.PodIPs[0] = "10.0.101.9" },
		"the container port is renamed":   func(fe *frontend.Frontend) { fe.ContainerPorts["http2"] = 8081 },
		"the probe moves to another port": func(fe *frontend.Frontend) { fe.Probe.Port = intstr.FromInt32(15022) },
	} {
		if build(change) == base {
			t.Errorf("%s: the hash did not change, so the change would never be applied", sentence)
		}
	}
	for sentence, change := range map[string]func(*frontend.Frontend){
		"a nodePort moves": func(fe *frontend.Frontend) { fe.ServicePorts[1].NodePort = 30081 },
		"a node leaves":    func(fe *frontend.Frontend) { fe.Nodes = fe.Nodes[:1] },
	} {
		if build(change) != base {
			t.Errorf("%s: the hash changed, but ip targets do not use nodes or nodePorts", sentence)
		}
	}
}

func targetsOf(p *GatewayPlan) string {
	var out []string
	for _, tg := range p.Stack.TargetGroups {
		for _, t := range tg.Targets {
			out = append(out, t.ID+":"+itoa(t.Port))
		}
	}
	return strings.Join(out, ",")
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
