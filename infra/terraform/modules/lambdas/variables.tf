variable "name" {
  description = "Project name: functions are <name>-<function> (e.g. leanops-sqs-to-firehose)."
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

variable "runtime" {
  description = "Python runtime of the functions and the layer."
  type        = string
  default     = "python3.12"
}

variable "architecture" {
  description = "Instruction set of the functions and the layer (x86_64 or arm64)."
  type        = string
  default     = "x86_64"
}

variable "lambda_zip_path" {
  description = "leanops-lambda.zip from `leanops package --out DIR`: the leanops package plus vendored tenacity."
  type        = string
}

variable "layer_zip_path" {
  description = "Lambda layer zip (python/ with pyiceberg, pyarrow, duckdb, pydantic, ...): docs/terraform.md, 'The Lambda layer'."
  type        = string
}

variable "artifacts_bucket" {
  description = "Artifacts bucket: the layer zip is uploaded to layers/ (a layer over 50 MB must come from S3)."
  type        = string
}

variable "kms_key_arn" {
  description = "Project KMS key: log groups, environment variables, and the data the functions read and write."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups."
  type        = number
  default     = 365
}

variable "enable_tracing" {
  description = "X-Ray active tracing."
  type        = bool
  default     = true
}

variable "state_url" {
  description = "LEANOPS_STATE: dynamodb://<prefix>?region=<region>."
  type        = string
}

variable "state_table_arns" {
  description = "ARNs of the state store's DynamoDB tables."
  type        = list(string)
}

variable "warehouse_uri" {
  description = "LEANOPS_WAREHOUSE: s3://<lake bucket>/<warehouse prefix>."
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

variable "schemas_uri" {
  description = "LEANOPS_SCHEMAS: s3://<artifacts bucket>/<schemas prefix>/."
  type        = string
}

variable "schemas_prefix" {
  description = "Key prefix of the topic schema files in the artifacts bucket."
  type        = string
}

variable "leanops_home" {
  description = "LEANOPS_HOME inside the function (scratch space under /tmp)."
  type        = string
  default     = "/tmp/leanops"
}

variable "glue_databases" {
  description = "Glue database of each zone (raw, standardized, curated, semantic)."
  type        = map(string)
}

variable "alerts_topic_arn" {
  description = "LEANOPS_ALERT_SNS_TOPIC: the alerts topic."
  type        = string
}

variable "source_queue_arn" {
  description = "The ingestion queue sqs_to_firehose consumes."
  type        = string
}

variable "dlq_arn" {
  description = "The dead-letter queue dlq_drainer drains."
  type        = string
}

variable "dlq_url" {
  description = "LEANOPS_DLQ_URL: URL of the dead-letter queue."
  type        = string
}

variable "firehose_stream" {
  description = "LEANOPS_FIREHOSE_STREAM: delivery stream name, {topic} replaced by the message's topic."
  type        = string
}

variable "firehose_stream_arns" {
  description = "ARNs of the delivery streams sqs_to_firehose may write to."
  type        = list(string)
}

variable "firehose_attempts" {
  description = "LEANOPS_FIREHOSE_ATTEMPTS: PutRecordBatch calls per chunk for records Firehose rejected."
  type        = number
  default     = 4
}

variable "dlq_budget_seconds" {
  description = "LEANOPS_DLQ_BUDGET_SECONDS: time dlq_drainer spends receiving per run."
  type        = number
  default     = 60
}

variable "dlq_max_messages" {
  description = "LEANOPS_DLQ_MAX_MESSAGES: messages per drain run, all in one Iceberg commit (held in memory: size the drainer's memory with it)."
  type        = number
  default     = 10000
}

variable "landing_queue_arn" {
  description = "The landing events queue (S3 object-created notifications) manifest_builder consumes."
  type        = string
}

variable "landing_prefix" {
  description = "LEANOPS_LANDING_PREFIX: key prefix of the landed files; the first path segment below it names the topic."
  type        = string
  default     = ""
}

variable "manifest_prefix" {
  description = "LEANOPS_MANIFEST_PREFIX: key prefix of the manifest documents in the artifacts bucket (LEANOPS_MANIFEST_BUCKET)."
  type        = string
  default     = "manifests/"
}

variable "file_workflow_arn" {
  description = "LEANOPS_FILE_WORKFLOW_ARN: the file-manifest state machine (built from its name: the machine's role depends on these functions)."
  type        = string
}

variable "manifest_builder_table_arns" {
  description = "ARNs of the state tables manifest_builder reads and writes: FileTracking, FileChecksums, FileManifests, Leases."
  type        = list(string)
}

variable "manifest_lock_ttl_seconds" {
  description = "LEANOPS_LOCK_TTL_SECONDS: TTL of the per-topic builder lock (seed 003's LOCK_TTL_SECONDS)."
  type        = number
  default     = 300
}

variable "manifest_max_files" {
  description = "LEANOPS_MAX_FILES: a manifest closes at this many files..."
  type        = number
  default     = 200
}

variable "manifest_max_bytes" {
  description = "LEANOPS_MAX_BYTES: ...or this many bytes (700 MiB)."
  type        = number
  default     = 734003200
}

variable "manifest_max_wait_seconds" {
  description = "LEANOPS_MAX_WAIT_SECONDS: how long a smaller manifest waits for more files."
  type        = number
  default     = 300
}

variable "source_queue_url" {
  description = "LEANOPS_INGEST_QUEUE_URL of health_check: the ingestion queue (Pre-RAW's SQS messages and in-flight count)."
  type        = string
}

variable "firehose_errors_prefix" {
  description = "Key prefix (no trailing /) of Firehose's error output in the lake bucket: Pre-RAW's Firehose errors."
  type        = string
}

variable "health_namespace" {
  description = "LEANOPS_HEALTH_NAMESPACE: the CloudWatch namespace health_check publishes to (the alarms read it)."
  type        = string
  default     = "LeanOps"
}

variable "pre_raw_window_seconds" {
  description = "LEANOPS_PRE_RAW_WINDOW_SECONDS: the window, ending at each check, of the Pre-RAW accountability metric."
  type        = number
  default     = 86400
}

variable "drift_log_stream_arn" {
  description = "Stream of the DriftLog table: new drift entries trigger the Snowflake refresh."
  type        = string
}

variable "snowflake_secret_arn" {
  description = "Secrets Manager secret with the Snowflake connection (JSON: account, user, password or private_key, role, warehouse); null = no Snowflake refresh."
  type        = string
  default     = null
}

variable "snowflake_database" {
  description = "LEANOPS_SNOWFLAKE_DATABASE: database of the Snowflake Iceberg tables."
  type        = string
  default     = "LAKEHOUSE"
}

variable "snowflake_schema" {
  description = "LEANOPS_SNOWFLAKE_SCHEMA: schema of the Snowflake Iceberg tables."
  type        = string
  default     = "SEMANTIC"
}

variable "snowflake_storage_base_url" {
  description = "LEANOPS_SNOWFLAKE_STORAGE_BASE_URL: the external volume's STORAGE_BASE_URL (\"\": each table's location)."
  type        = string
  default     = ""
}

variable "snowflake_layer_arn" {
  description = "A layer with snowflake-connector-python for snowflake_refresh (the main layer leaves it out: Lambda's 250 MB)."
  type        = string
  default     = null
}
