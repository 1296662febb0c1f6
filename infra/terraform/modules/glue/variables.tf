variable "name" {
  description = "Project name: jobs are <name>-standardized-processor, ..."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "artifacts_dir" {
  description = "Output of `leanops package --out DIR`: glue/<job>.py and lean_ops-<version>-py3-none-any.whl are uploaded from here."
  type        = string
}

variable "artifacts_bucket" {
  description = "Bucket the scripts (glue/) and the wheel (wheels/) are uploaded to; it also holds the schemas."
  type        = string
}

variable "lake_bucket" {
  description = "Name of the lake bucket."
  type        = string
}

variable "warehouse_prefix" {
  description = "Key prefix of the Iceberg warehouse in the lake bucket."
  type        = string
}

variable "warehouse_uri" {
  description = "--warehouse: s3://<lake bucket>/<warehouse prefix>."
  type        = string
}

variable "schemas_prefix" {
  description = "Key prefix of the topic schema files in the artifacts bucket."
  type        = string
}

variable "schemas_uri" {
  description = "--schemas: s3://<artifacts bucket>/<schemas prefix>/."
  type        = string
}

variable "state_url" {
  description = "--state: dynamodb://<prefix>?region=<region>."
  type        = string
}

variable "state_table_arns" {
  description = "ARNs of the state store's DynamoDB tables (checkpoint mirror, run log, JobOutputs)."
  type        = list(string)
}

variable "leanops_home" {
  description = "--home: scratch directory on the driver."
  type        = string
  default     = "/tmp/leanops"
}

variable "glue_databases" {
  description = "Glue database of each zone (raw, standardized, curated, semantic)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Project KMS key (security configuration, S3 and DynamoDB data)."
  type        = string
}

variable "glue_version" {
  description = "Glue version: 5.0 runs Spark 3.5, Python 3.11, Java 17 (docs/spark.md)."
  type        = string
  default     = "5.0"
}

variable "worker_type" {
  description = "Glue worker type."
  type        = string
  default     = "G.1X"
}

variable "number_of_workers" {
  description = "Workers per job run."
  type        = number
  default     = 2
}

variable "timeout_minutes" {
  description = "Timeout of one job run."
  type        = number
  default     = 120
}

variable "max_concurrent_runs" {
  description = "Concurrent runs each job accepts (execution_property): at least the orchestrator's Map concurrency."
  type        = number
}

variable "map_concurrency" {
  description = "The orchestrator's Map concurrency (max_concurrency), checked against max_concurrent_runs."
  type        = number
}
