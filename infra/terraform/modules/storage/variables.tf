variable "name_prefix" {
  description = "Prefix of the bucket names: <name_prefix>-<account>-<region>-<bucket>."
  type        = string
}

variable "account_id" {
  description = "AWS account id (bucket names are global: the account and region make them unique)."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the buckets' default encryption (SSE-KMS)."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
  default     = 30
}

variable "access_log_retention_days" {
  description = "Days the S3 server access logs are kept."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets (never for a real lake)."
  type        = bool
  default     = false
}
