variable "table_prefix" {
  description = "Table name prefix, the <prefix> of LEANOPS_STATE=dynamodb://<prefix>: table = prefix + suffix (e.g. leanops_PipelineRegistry)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the tables' server-side encryption."
  type        = string
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection on every table."
  type        = bool
  default     = true
}
