package tags

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
)

// TaggingAPI is the subset of the Resource Groups Tagging API client the operator uses.
type TaggingAPI interface {
	GetResources(context.Context, *tagging.GetResourcesInput, ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error)
}

var _ TaggingAPI = (*tagging.Client)(nil)

// Tagged is a resource found by its ownership tags (or remembered from the last apply).
type Tagged struct {
	ARN  string
	Tags map[string]string
}

// ResourceID is the logical id the resource was created for.
func (t Tagged) ResourceID() string { return t.Tags[Resource] }

// Find returns the resources of the given types (e.g. "elasticloadbalancing:loadbalancer",
// "acm:certificate") tagged for the owner, in one paginated GetResources call.
func Find(ctx context.Context, api TaggingAPI, owner Owner, resourceTypes ...string) ([]Tagged, error) {
	var out []Tagged
	p := tagging.NewGetResourcesPaginator(api, &tagging.GetResourcesInput{
		ResourceTypeFilters: resourceTypes,
		TagFilters: []taggingtypes.TagFilter{
			{Key: aws.String(Cluster), Values: []string{owner.Cluster}},
			{Key: aws.String(Gateway), Values: []string{owner.GatewayKey}},
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("GetResources for %s: %w", owner.GatewayKey, err)
		}
		for _, r := range page.ResourceTagMappingList {
			t := map[string]string{}
			for _, tag := range r.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if owner.Owns(t) {
				out = append(out, Tagged{ARN: aws.ToString(r.ResourceARN), Tags: t})
			}
		}
	}
	return out, nil
}
