package elbv2

import (
	"testing"

	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

func TestAMembersRuleBlockKeepsTheOthersInPlaceAndFollowsTheGroupOrder(t *testing.T) {
	others := func(blocks map[string][2]int) map[string]*ruleOwner {
		out := map[string]*ruleOwner{}
		for k, v := range blocks {
			out[k] = &ruleOwner{key: k, order: v[0], block: v[1]}
		}
		return out
	}
	for _, c := range []struct {
		name   string
		key    string
		order  int
		others map[string]*ruleOwner
		want   int
	}{
		{"the first member leaves room before it", "istio/ns/a", 1, nil, RuleBlocks / 4},
		{"one after every member leaves room after it", "istio/ns/b", 2, others(map[string][2]int{"istio/ns/a": {1, 125}}), 125 + (RuleBlocks-125)/16 + 1},
		{"one before every member takes the middle of the room before", "istio/ns/a", 0, others(map[string][2]int{"istio/ns/b": {1, 125}}), 62},
		{"one between two takes the middle between them", "istio/ns/b", 2, others(map[string][2]int{"istio/ns/a": {1, 125}, "istio/ns/c": {3, 149}}), 137},
		{"the same order is ordered by key", "istio/ns/b", 1, others(map[string][2]int{"istio/ns/a": {1, 125}, "istio/ns/c": {1, 149}}), 137},
		{"without room between its neighbours, the lowest free block", "istio/ns/b", 2, others(map[string][2]int{"istio/ns/a": {1, 0}, "istio/ns/c": {3, 1}}), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &RuleSynthesizer{Owner: tags.Owner{Cluster: "c", GatewayKey: c.key}, Order: c.order}
			got, err := s.allocate(c.others)
			if err != nil || got != c.want {
				t.Fatalf("block %d (%v), want %d", got, err, c.want)
			}
		})
	}
}
