package annotations

import (
	"strings"
	"testing"
)

func TestTargetGroupAttributes(t *testing.T) {
	cases := []struct {
		sentence string
		value    string
		want     map[string]string // the parsed attributes, when valid
		errs     []string          // each must appear in the error, when not
	}{
		{sentence: "known attributes are parsed and trimmed",
			value: " deregistration_delay.timeout_seconds = 10 , slow_start.duration_seconds=60, load_balancing.cross_zone.enabled=false",
			want:  map[string]string{DeregistrationDelay: "10", "slow_start.duration_seconds": "60", "load_balancing.cross_zone.enabled": "false"}},
		{sentence: "an integer is kept as AWS writes it, so that it never differs from what AWS answers",
			value: "deregistration_delay.timeout_seconds=030", want: map[string]string{DeregistrationDelay: "30"}},
		{sentence: "stickiness with an application cookie is accepted",
			value: "stickiness.enabled=true,stickiness.type=app_cookie,stickiness.app_cookie.cookie_name=session,stickiness.app_cookie.duration_seconds=3600",
			want: map[string]string{"stickiness.enabled": "true", "stickiness.type": "app_cookie", "stickiness.app_cookie.cookie_name": "session",
				"stickiness.app_cookie.duration_seconds": "3600"}},
		{sentence: "weighted random with anomaly mitigation is accepted",
			value: "load_balancing.algorithm.type=weighted_random,load_balancing.algorithm.anomaly_mitigation=on",
			want:  map[string]string{"load_balancing.algorithm.type": "weighted_random", "load_balancing.algorithm.anomaly_mitigation": "on"}},
		{sentence: "minimum healthy targets take off or a number",
			value: "target_group_health.dns_failover.minimum_healthy_targets.percentage=off,target_group_health.unhealthy_state_routing.minimum_healthy_targets.count=2",
			want: map[string]string{"target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
				"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "2"}},
		{sentence: "an unknown key names the annotation, the key and the known keys",
			value: "deregistration_delay=10", errs: []string{TargetGroupAttributes, "deregistration_delay", DeregistrationDelay}},
		{sentence: "a load balancer attribute is not a target group attribute",
			value: "idle_timeout.timeout_seconds=60", errs: []string{TargetGroupAttributes, "idle_timeout.timeout_seconds", "not an attribute of an ALB target group"}},
		{sentence: "a deregistration delay beyond an hour is refused with the pair",
			value: "deregistration_delay.timeout_seconds=3601", errs: []string{TargetGroupAttributes, "deregistration_delay.timeout_seconds=3601", "0 to 3600"}},
		{sentence: "a slow start below 30 seconds is refused",
			value: "slow_start.duration_seconds=10", errs: []string{"slow_start.duration_seconds=10", "0 (off) or an integer from 30 to 900"}},
		{sentence: "an unknown algorithm lists the ALB's",
			value: "load_balancing.algorithm.type=random", errs: []string{"load_balancing.algorithm.type=random", "least_outstanding_requests", "weighted_random"}},
		{sentence: "a stickiness type of a network load balancer is refused",
			value: "stickiness.type=source_ip", errs: []string{"stickiness.type=source_ip", "lb_cookie, app_cookie"}},
		{sentence: "slow start and least outstanding requests are refused together",
			value: "slow_start.duration_seconds=60,load_balancing.algorithm.type=least_outstanding_requests", errs: []string{"slow_start.duration_seconds=60", "least_outstanding_requests"}},
		{sentence: "slow start and weighted random are refused together",
			value: "slow_start.duration_seconds=60,load_balancing.algorithm.type=weighted_random", errs: []string{"slow_start.duration_seconds=60", "weighted_random"}},
		{sentence: "sticky sessions and weighted random are refused together",
			value: "stickiness.enabled=true,load_balancing.algorithm.type=weighted_random", errs: []string{"stickiness.enabled=true", "weighted_random"}},
		{sentence: "anomaly mitigation needs weighted random",
			value: "load_balancing.algorithm.anomaly_mitigation=on", errs: []string{"anomaly_mitigation=on", "weighted_random"}},
		{sentence: "an application cookie stickiness needs the cookie's name",
			value: "stickiness.enabled=true,stickiness.type=app_cookie", errs: []string{"stickiness.type=app_cookie", "cookie_name"}},
		{sentence: "the ALB's own cookie names are refused",
			value: "stickiness.type=app_cookie,stickiness.app_cookie.cookie_name=AWSALBAPP-0", errs: []string{"AWSALBAPP-0", "AWSALB"}},
		{sentence: "a percentage over 100 is refused",
			value: "target_group_health.dns_failover.minimum_healthy_targets.percentage=101", errs: []string{"percentage=101", `"off" or an integer from 1 to 100`}},
		{sentence: "a pair without a value separator is refused",
			value: "deregistration_delay.timeout_seconds", errs: []string{TargetGroupAttributes, "key=value"}},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			cfg, errs := Parse(map[string]string{Enabled: "true", TargetGroupAttributes: c.value})
			if c.errs == nil {
				if len(errs) > 0 {
					t.Fatal(errs.ToAggregate())
				}
				if len(cfg.TargetGroupAttributes) != len(c.want) {
					t.Fatalf("attributes %v, want %v", cfg.TargetGroupAttributes, c.want)
				}
				for k, v := range c.want {
					if cfg.TargetGroupAttributes[k] != v {
						t.Fatalf("attributes %v, want %v", cfg.TargetGroupAttributes, c.want)
					}
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("no error for %q", c.value)
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

func TestTheOperatorsDeregistrationDelayIsTheDefaultAndTheAnnotationWins(t *testing.T) {
	if got := TargetGroupAttributesFor(nil); len(got) != 1 || got[DeregistrationDelay] != DefaultDeregistrationDelay {
		t.Fatalf("defaults %v", got)
	}
	got := TargetGroupAttributesFor(map[string]string{DeregistrationDelay: "120", "stickiness.enabled": "true"})
	if got[DeregistrationDelay] != "120" || got["stickiness.enabled"] != "true" {
		t.Fatalf("with the annotation %v", got)
	}
	if TargetGroupAttributeDefaults()[DeregistrationDelay] != "300" {
		t.Fatal("AWS's default deregistration delay is 300s: a group created without our write has it")
	}
}

func TestSuccessCodesAreHTTPOrGRPCCodes(t *testing.T) {
	for v, ok := range map[string]bool{"200": true, "200-299": true, "200,302": true, "12": true, "0": true, "0-99": true, "0,12": true,
		"100": false, "500": false, "0-100": false, "299-200": false, "abc": false, "": false} {
		_, errs := Parse(map[string]string{Enabled: "true", SuccessCodes: v})
		if (len(errs) == 0) != ok {
			t.Errorf("success-codes %q: accepted %v, want %v (%v)", v, len(errs) == 0, ok, errs.ToAggregate())
		}
	}
}
