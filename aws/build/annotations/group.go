package annotations

import (
	"regexp"
	"strconv"
)

// Group annotations: Gateways of either kind with the same group (in one namespace) share one ALB.
const (
	Group      = Prefix + "group"
	GroupOrder = Prefix + "group-order"
)

// groupName is a group's name: a DNS label, so that it fits tags and names.
var groupName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// MaxGroupOrder bounds istio-alb.io/group-order.
const MaxGroupOrder = 1000

// group parses istio-alb.io/group and istio-alb.io/group-order.
func (p *parser) group() (string, int) {
	name, ok := p.a[Group]
	if v, has := p.a[GroupOrder]; has && !ok {
		p.invalid(GroupOrder, v, "is set without "+Group)
	}
	if !ok {
		return "", 0
	}
	if !groupName.MatchString(name) {
		p.invalid(Group, name, "must be a DNS label: lower-case letters, digits and inner hyphens, at most 63")
	}
	order := 0
	if v, has := p.a[GroupOrder]; has {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxGroupOrder {
			p.invalid(GroupOrder, v, "must be an integer from 0 to "+strconv.Itoa(MaxGroupOrder))
		} else {
			order = n
		}
	}
	return name, order
}
