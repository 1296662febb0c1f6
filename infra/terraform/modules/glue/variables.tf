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

variable "landing_bucket" {
  description = "Bucket of the landed NDJSON files the file processor reads."
  type        = string
}

variable "landing_prefix" {
  description = "Key prefix of the landed files in the landing bucket (\"\": the whole bucket)."
  type        = string
  default     = ""
}

variable "manifest_prefix" {
  description = "Key prefix of the manifest documents in the artifacts bucket (--MANIFEST_PATH points there)."
  type        = string
  default     = "manifests/"
}

variable "file_processor_job_name" {
  description = "Name of the file processor job (glue/file_processor.py), the job the file-manifest workflow starts."
  type        = string
}

variable "file_processor_worker_type" {
  description = "Worker type of the file processor: it runs on the driver only (lean-ops' embedded engine), so glueetl's smallest batch size."
  type        = string
  default     = "G.1X"
}

variable "file_processor_number_of_workers" {
  description = "Workers per file processor run (glueetl's minimum for G.1X is 2)."
  type        = number
  default     = 2
}
