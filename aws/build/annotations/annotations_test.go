package annotations

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		sentence string
		in       map[string]string
		check    func(t *testing.T, c Config)
		errs     []string // each must appear in the aggregated error
	}{
		{
			sentence: "only enabled gives the documented defaults",
			in:       map[string]string{Enabled: "true"},
			check: func(t *testing.T, c Config) {
				if !c.Enabled || c.Scheme != SchemeInternetFacing || c.TargetType != TargetTypeInstance || c.IPAddressType != IPAddressTypeIPv4 ||
					strings.Join(c.InboundCIDRs, ",") != "0.0.0.0/0" || c.Subnets != nil || c.Tags != nil {
					t.Fatalf("defaults: %+v", c)
				}
			},
		},
		{
			sentence: "dualstack opens the ALB to IPv6 too by default",
			in:       map[string]string{Enabled: "true", IPAddressType: "dualstack"},
			check: func(t *testing.T, c Config) {
				if strings.Join(c.InboundCIDRs, ",") != "0.0.0.0/0,::/0" {
					t.Fatalf("cidrs %v", c.InboundCIDRs)
				}
			},
		},
		{
			sentence: "lists and pairs are trimmed",
			in: map[string]string{Enabled: "true", Subnets: " subnet-a , public-b ", Tags: "team=web, env = prod",
				LoadBalancerAttributes: "idle_timeout.timeout_seconds=120", InboundCIDRs: "10.0.0.0/8,192.168.0.0/16"},
			check: func(t *testing.T, c Config) {
				if strings.Join(c.Subnets, ",") != "subnet-a,public-b" || c.Tags["env"] != "prod" || c.Tags["team"] != "web" ||
					c.LoadBalancerAttributes["idle_timeout.timeout_seconds"] != "120" || len(c.InboundCIDRs) != 2 {
					t.Fatalf("parsed %+v", c)
				}
			},
		},
		{
			sentence: "health check overrides are carried through",
			in: map[string]string{Enabled: "true", HealthCheckPath: "/ready", HealthCheckPort: "traffic-port", HealthCheckInterval: "10",
				HealthCheckTimeout: "4", HealthyThreshold: "3", UnhealthyThreshold: "4", SuccessCodes: "200-299"},
			check: func(t *testing.T, c Config) {
				h := c.HealthCheck
				if *h.Path != "/ready" || *h.Port != "traffic-port" || *h.IntervalSeconds != 10 || *h.TimeoutSeconds != 4 ||
					*h.HealthyThreshold != 3 || *h.UnhealthyThreshold != 4 || *h.SuccessCodes != "200-299" {
					t.Fatalf("overrides %+v", h)
				}
			},
		},
		{sentence: "an enabled value that is not a boolean names the annotation and the value",
			in: map[string]string{Enabled: "yes please"}, errs: []string{Enabled, "yes please"}},
		{sentence: "an unknown scheme lists the allowed ones",
			in: map[string]string{Enabled: "true", Scheme: "public"}, errs: []string{Scheme, "public", "internet-facing", "internal"}},
		{
			sentence: "ip targets are accepted",
			in:       map[string]string{Enabled: "true", TargetType: "ip"},
			check: func(t *testing.T, c Config) {
				if c.TargetType != TargetTypeIP {
					t.Fatalf("target type %q", c.TargetType)
				}
			},
		},
		{sentence: "an unknown target type lists the allowed ones",
			in: map[string]string{Enabled: "true", TargetType: "pod"}, errs: []string{TargetType, "pod", "instance", "ip"}},
		{sentence: "a CIDR with host bits is refused",
			in: map[string]string{Enabled: "true", InboundCIDRs: "10.0.0.1/8"}, errs: []string{InboundCIDRs, "10.0.0.1/8"}},
		{sentence: "an IPv6 CIDR without dualstack is refused",
			in: map[string]string{Enabled: "true", InboundCIDRs: "::/0"}, errs: []string{InboundCIDRs, "dualstack"}},
		{sentence: "a tag may not impersonate an ownership tag",
			in: map[string]string{Enabled: "true", Tags: "istio-alb.io/cluster=x"}, errs: []string{Tags, "istio-alb.io/cluster"}},
		{sentence: "a tag without a value separator is refused",
			in: map[string]string{Enabled: "true", Tags: "team"}, errs: []string{Tags, "key=value"}},
		{sentence: "a health check timeout not below the interval is refused",
			in: map[string]string{Enabled: "true", HealthCheckInterval: "5", HealthCheckTimeout: "5"}, errs: []string{HealthCheckTimeout, "less than"}},
		{sentence: "a threshold out of range is refused",
			in: map[string]string{Enabled: "true", HealthyThreshold: "11"}, errs: []string{HealthyThreshold, "2 to 10"}},
		{sentence: "success codes must be HTTP codes",
			in: map[string]string{Enabled: "true", SuccessCodes: "ok"}, errs: []string{SuccessCodes, "ok"}},
		{sentence: "a health check path must be absolute",
			in: map[string]string{Enabled: "true", HealthCheckPath: "healthz"}, errs: []string{HealthCheckPath, "healthz"}},
		{sentence: "an attribute the operator does not know is refused with the known ones",
			in: map[string]string{Enabled: "true", LoadBalancerAttributes: "idle_timeout.seconds=30"}, errs: []string{LoadBalancerAttributes, "idle_timeout.seconds", "idle_timeout.timeout_seconds"}},
		{sentence: "an attribute value of the wrong type is refused",
			in:   map[string]string{Enabled: "true", LoadBalancerAttributes: "deletion_protection.enabled=yes,idle_timeout.timeout_seconds=0"},
			errs: []string{"deletion_protection.enabled=yes", "true", "idle_timeout.timeout_seconds=0", "1 to 4000"}},
		{sentence: "access logs need a bucket",
			in: map[string]string{Enabled: "true", LoadBalancerAttributes: "access_logs.s3.enabled=true"}, errs: []string{"access_logs.s3.bucket"}},
		{sentence: "an attribute enum value is checked",
			in: map[string]string{Enabled: "true", LoadBalancerAttributes: "routing.http.desync_mitigation_mode=lenient"}, errs: []string{"lenient", "strictest"}},
		{sentence: "a typo in a key is reported with the closest known key",
			in: map[string]string{Enabled: "true", Prefix + "shceme": "internal"}, errs: []string{Prefix + "shceme", "did you mean " + Scheme}},
		{sentence: "a misspelt attribute annotation is recognised",
			in: map[string]string{Enabled: "true", Prefix + "loadbalancer-attributes": "x=y"}, errs: []string{"did you mean " + LoadBalancerAttributes}},
		{sentence: "every bad annotation is reported at once",
			in: map[string]string{Enabled: "true", Scheme: "x", IPAddressType: "ipv6"}, errs: []string{Scheme, IPAddressType}},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			cfg, errs := Parse(c.in)
			if len(c.errs) == 0 {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs.ToAggregate())
				}
				c.check(t, cfg)
				return
			}
			if len(errs) == 0 {
				t.Fatalf("no error for %v", c.in)
			}
			msg := errs.ToAggregate().Error()
			for _, want := range c.errs {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}
