package dns

import (
	"context"
	"slices"
	"strings"

	"sigs.k8s.io/external-dns/endpoint"
	"sigs.k8s.io/external-dns/plan"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// ValidationResource names a gateway's ACM validation records in the TXT registry, apart from its
// alias records (gateway is "<kind>/<namespace>/<name>"): they live as long as the gateway's
// requested certificates, which ACM renews through them, not as long as a host.
func ValidationResource(gateway string) string { return ResourcePrefix + gateway + "/acm" }

// EnsureRecords writes plain records (ACM validation CNAMEs) of resource into the public zones
// that own them, through the TXT registry like the alias records: created with ownership, never
// deleted here (RemoveRecords does, at teardown). It returns the names no public zone owns, and
// the names someone else holds with another value.
func (s *Syncer) EnsureRecords(ctx context.Context, resource string, records []model.Record) (unowned []string, held []Conflict, err error) {
	all, err := s.Zones.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	public := slices.DeleteFunc(slices.Clone(all), func(z Zone) bool { return z.Private })
	byZone := map[Zone][]model.Record{}
	for _, r := range records {
		z, ok := zoneOf(public, r.Name)
		if !ok {
			unowned = append(unowned, r.Name)
			continue
		}
		byZone[z] = append(byZone[z], r)
	}
	for _, z := range zonesFor(public, recordNames(records)) {
		var c []Conflict
		_, err := s.batches().do(ctx, z, func(snap *snapshot) error {
			prov := &route53Provider{snap: snap}
			reg, mine, holders, err := s.read(ctx, prov, resource)
			if err != nil {
				return err
			}
			var desired []*endpoint.Endpoint
			for _, r := range byZone[z] {
				name := normalize(r.Name)
				if h, taken := holders[name]; taken {
					if h.RecordType != r.Type || len(h.Targets) != 1 || !strings.EqualFold(strings.TrimSuffix(h.Targets[0], "."), strings.TrimSuffix(r.Value, ".")) {
						c = append(c, Conflict{Name: name, Reason: holderOf(h, s.OwnerID), Held: true})
					}
					continue // the same record of someone else validates as well
				}
				ep := endpoint.NewEndpoint(name, r.Type, strings.TrimSuffix(r.Value, "."))
				desired = append(desired, s.own(ep, resource))
			}
			return s.apply(ctx, reg, mine, desired, &plan.UpsertOnlyPolicy{})
		})
		if err != nil {
			return unowned, held, err
		}
		held = append(held, c...)
	}
	return unowned, held, nil
}

// RemoveRecords deletes every record of resource (by TXT ownership) in the public zones.
func (s *Syncer) RemoveRecords(ctx context.Context, resource string) error {
	all, err := s.Zones.List(ctx)
	if err != nil {
		return err
	}
	for _, z := range all {
		if z.Private {
			continue
		}
		if _, err := s.batches().do(ctx, z, func(snap *snapshot) error {
			reg, mine, _, err := s.read(ctx, &route53Provider{snap: snap}, resource)
			if err != nil || len(mine) == 0 {
				return err
			}
			return s.apply(ctx, reg, mine, nil, &plan.SyncPolicy{})
		}); err != nil {
			return err
		}
	}
	return nil
}

func recordNames(records []model.Record) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		out = append(out, r.Name)
	}
	return out
}
