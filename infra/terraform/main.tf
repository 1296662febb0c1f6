# lean-ops on AWS (design.md section 1, seeds 000/001/003): SQS -> Lambda -> Firehose -> RAW (Iceberg in
# the Glue Data Catalog on S3), Glue 5.0 Spark jobs for Standardized/Curated/Semantic, Step Functions
# Standard orchestration on an EventBridge schedule, state in DynamoDB, alerts on SNS; and the file landing
# path: landing bucket -> SQS -> manifest_builder -> file-manifest workflow -> file processor job -> RAW.
# Module map, variables and the deploy order: docs/terraform.md.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id

  # the builder's tables, and the status index it lists pending files and manifests from
  manifest_builder_table_arns = concat(
    [for suffix in ["FileTracking", "FileChecksums", "FileManifests", "Leases"] : module.state.table_arns[suffix]],
    [for suffix in ["FileTracking", "FileManifests"] : "${module.state.table_arns[suffix]}/index/*"],
  )
  partition = data.aws_partition.current.partition

  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # `leanops package --out DIR` writes leanops-lambda.zip, the wheel and glue/*.py (src/leanops/aws/package.py).
  artifacts_dir    = coalesce(var.artifacts_dir, "${path.root}/../../dist/aws")
  lambda_layer_zip = coalesce(var.lambda_layer_zip, "${local.artifacts_dir}/leanops-layer.zip")

  # The DynamoDB adapter names its tables prefix + suffix (leanops.state.dynamodb, DEFAULT_PREFIX "leanops_"):
  # the state module creates exactly those names, and every process gets the same prefix in LEANOPS_STATE / --state.
  state_table_prefix = "${var.project}_"
  state_url          = "dynamodb://${local.state_table_prefix}?region=${var.region}"

  warehouse_prefix = "warehouse"
  warehouse_uri    = "s3://${module.storage.lake_bucket_name}/${local.warehouse_prefix}"
  schemas_prefix   = "schemas"
  schemas_uri      = "s3://${module.storage.artifacts_bucket_name}/${local.schemas_prefix}/"
  leanops_home     = "/tmp/leanops"

  # Each topic branch of the Map runs the same Glue job at once: the jobs must accept max_concurrency runs.
  glue_max_concurrent_runs = coalesce(var.glue_max_concurrent_runs, var.max_concurrency)
  # Seed 003's file landing path: the file processor Glue job (the file-manifest workflow's), the manifest
  # documents under manifests/ of the artifacts bucket (never the landing bucket: they are not landing data).
  file_processor_job_name = coalesce(var.file_processor_job_name, "${var.project}-file-processor")
  manifest_prefix         = "manifests/"
  # manifest_builder starts the file-manifest workflow. Its ARN is built from the name: the state machines'
  # role policies depend on the functions, so the machine's own ARN would make a cycle.
  file_workflow_arn = "arn:${local.partition}:states:${var.region}:${local.account_id}:stateMachine:${module.orchestration.state_machine_names["file_manifest"]}"
  # health_check's LEANOPS_INGEST_QUEUE_URL, built from the queue's name (the ingestion module's "<project>-ingest"):
  # the queue's visibility timeout follows the functions' timeouts, so its own URL would make a cycle.
  ingest_queue_url = "https://sqs.${var.region}.${data.aws_partition.current.dns_suffix}/${local.account_id}/${var.project}-ingest"
}

module "kms" {
  source = "./modules/kms"

  name       = var.project
  account_id = local.account_id
  region     = var.region
  partition  = local.partition
}

module "storage" {
  source = "./modules/storage"

  name_prefix                        = "${var.project}-${var.environment}"
  account_id                         = local.account_id
  region                             = var.region
  kms_key_arn                        = module.kms.key_arn
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
}

module "state" {
  source = "./modules/state"

  table_prefix        = local.state_table_prefix
  kms_key_arn         = module.kms.key_arn
  deletion_protection = var.deletion_protection
}

module "lambdas" {
  source = "./modules/lambdas"

  name                 = var.project
  account_id           = local.account_id
  region               = var.region
  partition            = local.partition
  runtime              = var.lambda_runtime
  architecture         = var.lambda_architecture
  lambda_zip_path      = "${local.artifacts_dir}/leanops-lambda.zip"
  layer_zip_path       = local.lambda_layer_zip
  artifacts_bucket     = module.storage.artifacts_bucket_name
  kms_key_arn          = module.kms.key_arn
  log_retention_days   = var.log_retention_days
  enable_tracing       = var.enable_tracing
  state_url            = local.state_url
  state_table_arns     = module.state.state_table_arns
  warehouse_uri        = local.warehouse_uri
  lake_bucket          = module.storage.lake_bucket_name
  warehouse_prefix     = local.warehouse_prefix
  schemas_uri          = local.schemas_uri
  schemas_prefix       = local.schemas_prefix
  leanops_home         = local.leanops_home
  glue_databases       = module.storage.glue_database_names
  alerts_topic_arn     = module.monitoring.alerts_topic_arn
  source_queue_arn     = module.ingestion.queue_arn
  dlq_arn              = module.ingestion.dlq_arn
  dlq_url              = module.ingestion.dlq_url
  firehose_stream      = "${var.project}-{topic}"
  firehose_stream_arns = module.ingestion.delivery_stream_arns

  source_queue_url           = local.ingest_queue_url
  firehose_errors_prefix     = module.ingestion.firehose_errors_prefix
  health_namespace           = var.health_namespace
  pre_raw_window_seconds     = var.pre_raw_window_seconds
  drift_log_stream_arn       = module.state.drift_log_stream_arn
  snowflake_secret_arn       = var.snowflake_secret_arn
  snowflake_database         = var.snowflake_database
  snowflake_schema           = var.snowflake_schema
  snowflake_storage_base_url = var.snowflake_storage_base_url
  snowflake_layer_arn        = var.snowflake_layer_arn

  landing_queue_arn           = module.landing.queue_arn
  landing_prefix              = var.landing_prefix
  manifest_prefix             = local.manifest_prefix
  file_workflow_arn           = local.file_workflow_arn
  manifest_builder_table_arns = local.manifest_builder_table_arns
  manifest_lock_ttl_seconds   = var.manifest_lock_ttl_seconds
  manifest_max_files          = var.manifest_max_files
  manifest_max_bytes          = var.manifest_max_bytes
  manifest_max_wait_seconds   = var.manifest_max_wait_seconds
}

module "ingestion" {
  source = "./modules/ingestion"

  name                      = var.project
  account_id                = local.account_id
  region                    = var.region
  partition                 = local.partition
  topics                    = var.topics
  kms_key_arn               = module.kms.key_arn
  lake_bucket               = module.storage.lake_bucket_name
  warehouse_prefix          = local.warehouse_prefix
  raw_database              = module.storage.glue_database_names["raw"]
  log_retention_days        = var.log_retention_days
  forwarder_function_arn    = module.lambdas.function_arns["sqs_to_firehose"]
  forwarder_timeout_seconds = module.lambdas.function_timeouts["sqs_to_firehose"]
  dlq_drainer_function_arn  = module.lambdas.function_arns["dlq_drainer"]
  dlq_drainer_function_name = module.lambdas.function_names["dlq_drainer"]
  dlq_drain_schedule        = var.dlq_drain_schedule
}

module "landing" {
  source = "./modules/landing"

  name                    = var.project
  account_id              = local.account_id
  landing_bucket          = module.storage.landing_bucket_name
  landing_bucket_arn      = module.storage.landing_bucket_arn
  landing_prefix          = var.landing_prefix
  builder_function_arn    = module.lambdas.function_arns["manifest_builder"]
  builder_function_name   = module.lambdas.function_names["manifest_builder"]
  builder_timeout_seconds = module.lambdas.function_timeouts["manifest_builder"]
  flush_schedule          = var.manifest_flush_schedule
}

# The landing bucket's notification configuration moved from the storage module (EventBridge) to the landing
# module (SQS): one resource for the bucket's one configuration, updated in place instead of replaced.
moved {
  from = module.storage.aws_s3_bucket_notification.landing
  to   = module.landing.aws_s3_bucket_notification.landing
}

module "glue" {
  source = "./modules/glue"

  name                = var.project
  account_id          = local.account_id
  region              = var.region
  partition           = local.partition
  artifacts_dir       = local.artifacts_dir
  artifacts_bucket    = module.storage.artifacts_bucket_name
  lake_bucket         = module.storage.lake_bucket_name
  warehouse_prefix    = local.warehouse_prefix
  warehouse_uri       = local.warehouse_uri
  schemas_prefix      = local.schemas_prefix
  schemas_uri         = local.schemas_uri
  state_url           = local.state_url
  state_table_arns    = module.state.state_table_arns
  leanops_home        = local.leanops_home
  glue_databases      = module.storage.glue_database_names
  kms_key_arn         = module.kms.key_arn
  worker_type         = var.glue_worker_type
  number_of_workers   = var.glue_number_of_workers
  timeout_minutes     = var.glue_timeout_minutes
  max_concurrent_runs = local.glue_max_concurrent_runs
  map_concurrency     = var.max_concurrency

  landing_bucket          = module.storage.landing_bucket_name
  landing_prefix          = var.landing_prefix
  manifest_prefix         = local.manifest_prefix
  file_processor_job_name = local.file_processor_job_name
}

module "orchestration" {
  source = "./modules/orchestration"

  name                      = var.project
  account_id                = local.account_id
  region                    = var.region
  partition                 = local.partition
  kms_key_arn               = module.kms.key_arn
  log_retention_days        = var.log_retention_days
  enable_tracing            = var.enable_tracing
  map_mode                  = var.orchestrator_map_mode
  max_concurrency           = var.max_concurrency
  schedule_expression       = var.orchestrator_schedule
  schedule_enabled          = var.orchestrator_schedule_enabled
  fetch_active_topics_arn   = module.lambdas.function_arns["fetch_active_topics"]
  flow_step_arn             = module.lambdas.function_arns["flow_step"]
  glue_job_names            = module.glue.job_names
  file_manifests_table_name = module.state.file_manifests_table_name
  file_manifests_table_arn  = module.state.file_manifests_table_arn
  alerts_topic_arn          = module.monitoring.alerts_topic_arn
}

module "monitoring" {
  source = "./modules/monitoring"

  name                  = var.project
  account_id            = local.account_id
  region                = var.region
  partition             = local.partition
  kms_key_arn           = module.kms.key_arn
  alert_emails          = var.alert_emails
  dlq_name              = module.ingestion.dlq_name
  landing_dlq_name      = module.landing.dlq_name
  state_machine_arns    = module.orchestration.state_machine_arns
  glue_job_names        = values(module.glue.job_names)
  lambda_function_names = module.lambdas.function_names

  topics                         = var.topics
  health_check_function_arn      = module.lambdas.function_arns["health_check"]
  health_check_function_name     = module.lambdas.function_names["health_check"]
  health_check_schedule          = var.health_check_schedule
  health_namespace               = var.health_namespace
  curation_lag_threshold_records = var.curation_lag_threshold_records
  semantic_lag_threshold_seconds = var.semantic_lag_threshold_seconds
  drift_threshold_entries        = var.drift_threshold_entries
  dlq_max_age_seconds            = var.dlq_max_age_seconds
}
