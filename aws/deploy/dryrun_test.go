package deploy

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2sdk "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// Every write of every SDK interface the deployer, the DNS syncer and the certificate requests
// use is answered by the dry run and recorded: the wrappers are built over nil clients, so a
// write that reached the real client would panic.
func TestEveryWriteOfEveryAPIIsRecordedAndNeverSent(t *testing.T) {
	d := &DryRun{Region: "eu-west-1", Account: "111122223333"}
	apis := map[string]any{
		"ec2": d.EC2(nil), "elbv2": d.ELBV2(nil), "wafv2": d.WAFV2(nil), "route53": d.Route53(nil), "acm": d.ACM(nil),
	}
	ifaces := map[string]reflect.Type{
		"ec2": reflect.TypeFor[ec2.API](), "elbv2": reflect.TypeFor[elbv2.API](), "wafv2": reflect.TypeFor[wafv2.API](),
		"route53": reflect.TypeFor[dns.API](), "acm": reflect.TypeFor[acm.API](),
	}
	for name, iface := range ifaces {
		v := reflect.ValueOf(apis[name])
		for i := range iface.NumMethod() {
			m := iface.Method(i)
			if !clients.IsMutating(m.Name) {
				continue
			}
			t.Run(name+"."+m.Name, func(t *testing.T) {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s.%s reached the real client: %v", name, m.Name, r)
					}
				}()
				fn := v.MethodByName(m.Name)
				in := reflect.New(fn.Type().In(1).Elem())
				before := len(d.Changes())
				out := fn.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
				if !out[1].IsNil() || out[0].IsNil() {
					t.Fatalf("%s.%s answered %v, %v", name, m.Name, out[0], out[1])
				}
				changes := d.Changes()
				if len(changes) != before+1 || changes[before].Operation != m.Name {
					t.Fatalf("%s.%s recorded %v", name, m.Name, changes[before:])
				}
			})
		}
	}
}

func TestFormatChangesKeepsWithinItsLimitAndCountsWhatItLeavesOut(t *testing.T) {
	var changes []Change
	for range 50 {
		changes = append(changes, Change{Action: ActionCreate, Service: "EC2", Operation: "CreateSecurityGroup", Kind: "security-group", Resource: "ia-ns-gw-0123456789"})
	}
	cases := []struct {
		name      string
		limit     int
		wantLines int
		wantMore  string
	}{
		{"no limit lists all", 0, 51, ""},
		{"a limit lists what fits and counts the rest", 400, 5, "... and 46 more"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := FormatChanges(changes, c.limit)
			if c.limit > 0 && len(got) > c.limit {
				t.Fatalf("%d bytes, limit %d", len(got), c.limit)
			}
			lines := strings.Split(got, "\n")
			if lines[0] != "50 changes (50 create, 0 modify, 0 delete)" {
				t.Fatalf("summary %q", lines[0])
			}
			if c.wantMore != "" {
				if last := lines[len(lines)-1]; last != c.wantMore {
					t.Fatalf("last line %q, want %q", last, c.wantMore)
				}
				lines = lines[:len(lines)-1]
			}
			if len(lines) != c.wantLines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), c.wantLines, got)
			}
		})
	}
}

func TestACreateAnswersWithAMadeUpIDThatLaterReadsDoNotSendToAWS(t *testing.T) {
	d := &DryRun{Region: "eu-west-1", Account: "111122223333"}
	lbs := d.ELBV2(nil)
	out, err := lbs.CreateLoadBalancer(context.Background(), &elbv2CreateLB)
	if err != nil || len(out.LoadBalancers) != 1 {
		t.Fatalf("CreateLoadBalancer: %v %v", out, err)
	}
	arn := out.LoadBalancers[0].LoadBalancerArn
	if !strings.HasPrefix(*arn, "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/my-alb/") {
		t.Fatalf("made-up ARN %s", *arn)
	}
	// The wrapped client is nil: a read sent to it would panic.
	listeners, err := lbs.DescribeListeners(context.Background(), &elbv2DescribeListeners)
	if err != nil || len(listeners.Listeners) != 0 {
		t.Fatalf("DescribeListeners of a made-up load balancer: %v %v", listeners, err)
	}
	if got := d.Changes(); len(got) != 1 || got[0].Action != ActionCreate || got[0].Kind != "load-balancer" || got[0].Resource != "my-alb" {
		t.Fatalf("changes %v", got)
	}
}

var (
	elbv2CreateLB          = elbv2sdk.CreateLoadBalancerInput{Name: aws.String("my-alb")}
	elbv2DescribeListeners = elbv2sdk.DescribeListenersInput{}
)

func init() {
	elbv2DescribeListeners.LoadBalancerArn = aws.String("arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/my-alb/" + dryMark + "00000001")
}
