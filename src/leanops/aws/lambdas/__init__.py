"""Lambda handlers; the handler strings are `leanops.aws.lambdas.<module>.handler` (docs/aws-lambdas.md)."""
