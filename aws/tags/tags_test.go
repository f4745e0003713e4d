package tags

import (
	"regexp"
	"testing"
)

func TestNamesFitAWSLimitsAndChangeWithImmutableProperties(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	cases := []struct{ sentence, key string }{
		{"a short gateway key gives a readable name", "istio/test-ns/test-gateway"},
		{"a very long namespace and name are cut to fit 32 characters", "istio/a-very-long-namespace-name-indeed/and-a-gateway-name-that-goes-on-and-on"},
		{"dots and underscores become hyphens", "gateway-api/x.y/a_b"},
		{"a name made only of symbols still gives a valid name", "istio/---/..."},
	}
	for _, c := range cases {
		t.Run(c.sentence, func(t *testing.T) {
			o := Owner{Cluster: "demo", GatewayKey: c.key}
			n := o.Name("tg-http", "30080")
			if len(n) > 32 || !valid.MatchString(n) {
				t.Fatalf("name %q is not a valid AWS name of at most 32 characters", n)
			}
			if n == o.Name("tg-http", "30081") {
				t.Fatalf("a different immutable property must give a different name")
			}
			if n != o.Name("tg-http", "30080") {
				t.Fatalf("names must be deterministic")
			}
		})
	}
}

func TestOwnershipTagsCannotBeOverriddenByUserTags(t *testing.T) {
	o := Owner{Cluster: "demo", GatewayKey: "istio/ns/gw"}
	got := o.For("alb", map[string]string{Cluster: "evil", "team": "web"})
	if got[Cluster] != "demo" || got[Resource] != "alb" || got["team"] != "web" {
		t.Fatalf("unexpected tags %v", got)
	}
	if !o.Owns(got) || (Owner{Cluster: "demo", GatewayKey: "istio/ns/other"}).Owns(got) {
		t.Fatalf("Owns must match cluster and gateway")
	}
}

func TestTheBackendGroupNameIsPerClusterAndFits(t *testing.T) {
	a, b := BackendName("a-very-long-cluster-name-for-production"), BackendName("other")
	if len(a) > 32 || a == b || a != BackendName("a-very-long-cluster-name-for-production") {
		t.Fatalf("backend names %q %q", a, b)
	}
}
