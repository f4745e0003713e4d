package annotations

import (
	"strings"
	"testing"
)

func TestTheGroupAnnotations(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    map[string]string
		group string
		order int
		err   string
	}{
		{"a group with its order", map[string]string{Group: "shop", GroupOrder: "10"}, "shop", 10, ""},
		{"a group without order is order 0", map[string]string{Group: "shop"}, "shop", 0, ""},
		{"no group", map[string]string{}, "", 0, ""},
		{"a group name that is not a DNS label", map[string]string{Group: "Shop_1"}, "Shop_1", 0, "must be a DNS label"},
		{"an order that is not a number", map[string]string{Group: "shop", GroupOrder: "first"}, "shop", 0, "must be an integer from 0 to 1000"},
		{"an order out of range", map[string]string{Group: "shop", GroupOrder: "1001"}, "shop", 0, "must be an integer from 0 to 1000"},
		{"an order without a group", map[string]string{GroupOrder: "1"}, "", 0, "is set without istio-alb.io/group"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, errs := Parse(c.in)
			if cfg.Group != c.group || cfg.GroupOrder != c.order {
				t.Errorf("group %q order %d, want %q %d", cfg.Group, cfg.GroupOrder, c.group, c.order)
			}
			if got := errs.ToAggregate(); (got == nil) != (c.err == "") || (got != nil && !strings.Contains(got.Error(), c.err)) {
				t.Errorf("errors %v, want %q", got, c.err)
			}
		})
	}
}
