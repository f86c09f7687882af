package resources

// IAMDeclarer is implemented by the parameters of a resource type that
// calls a cloud API. `raftha iam-policy` (package iampolicy) grants a node
// exactly the statements the resources of its groups declare, so a type
// registered by an embedding service declares its own actions the same
// way the built-in AWS types do.
type IAMDeclarer interface {
	// IAMStatements returns the grants the resource needs on the node
	// that owns its group, for these (decoded, validated) parameters.
	IAMStatements() []IAMStatement
}

// IAMStatement is one grant a resource (or a fencer) needs. Statements
// with the same Sid, from every resource of the groups, are joined into
// one policy statement: the union of their actions and of their
// resources.
type IAMStatement struct {
	// Sid names the statement in the policy, e.g. "RafthaElasticIP".
	Sid string
	// Actions are the API actions, e.g. "ec2:AssociateAddress".
	Actions []string
	// Resources are what the actions are allowed on. Empty when
	// NodeInstances is set.
	Resources []IAMResource
	// NodeInstances grants the actions on the EC2 instances of the
	// groups' nodes: their exact instance ARNs when every node's instance
	// id is known, else on instances carrying the cluster tag.
	NodeInstances bool
}

// IAMResource is the part of an ARN a resource type knows: the service
// and the resource; the policy generator adds the partition, region and
// account. The zero Service with Resource "*" is every resource, for
// actions IAM cannot scope (Describe*).
type IAMResource struct {
	// Service is the ARN's service, e.g. "ec2" or "route53".
	Service string
	// Resource is the ARN's resource, e.g. "route-table/rtb-0123" or
	// "hostedzone/Z0123"; it may end in "*".
	Resource string
}

// IAMAny is the IAMResource "*": every resource.
func IAMAny() IAMResource { return IAMResource{Resource: "*"} }
