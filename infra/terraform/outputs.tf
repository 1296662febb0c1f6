output "state_machine_arns" {
  description = "Step Functions state machines: orchestrator, topic_pipeline, historical_rebuilder, file_manifest."
  value       = module.orchestration.state_machine_arns
}

output "lake_bucket" {
  description = "Bucket of the Iceberg warehouse."
  value       = module.storage.lake_bucket_name
}

output "artifacts_bucket" {
  description = "Bucket of the Glue scripts, the wheel, the layer and the topic schemas."
  value       = module.storage.artifacts_bucket_name
}

output "landing_bucket" {
  description = "Bucket of the NDJSON landing files."
  value       = module.storage.landing_bucket_name
}

output "access_logs_bucket" {
  description = "Bucket of the S3 server access logs."
  value       = module.storage.access_logs_bucket_name
}

output "queue_url" {
  description = "Ingestion SQS queue (send with the message attribute `topic`)."
  value       = module.ingestion.queue_url
}

output "dlq_url" {
  description = "Dead-letter queue of the ingestion queue."
  value       = module.ingestion.dlq_url
}

output "delivery_stream_names" {
  description = "Firehose delivery stream of each topic."
  value       = module.ingestion.delivery_stream_names
}

output "table_names" {
  description = "DynamoDB tables by suffix (the state store's and FileManifests)."
  value       = module.state.table_names
}

output "glue_job_names" {
  description = "Glue jobs by key."
  value       = module.glue.job_names
}

output "lambda_function_names" {
  description = "Lambda functions by key."
  value       = module.lambdas.function_names
}

output "landing_events_queue_url" {
  description = "SQS queue of the landing bucket's object-created events (consumed by manifest_builder)."
  value       = module.landing.queue_url
}

output "landing_events_dlq_url" {
  description = "Dead-letter queue of the landing events (events manifest_builder failed 5 times: files not tracked)."
  value       = module.landing.dlq_url
}

output "manifest_builder_function_name" {
  description = "The manifest_builder Lambda function (landing files -> manifests -> file-manifest workflow)."
  value       = module.lambdas.function_names["manifest_builder"]
}

output "alerts_topic_arn" {
  description = "SNS alerts topic."
  value       = module.monitoring.alerts_topic_arn
}

output "kms_key_arn" {
  description = "The project's KMS key (readers of the lake, e.g. Athena users, need kms:Decrypt on it)."
  value       = module.kms.key_arn
}

output "leanops_env" {
  description = "The settings a lean-ops process on AWS uses (export them to run `leanops` against this deployment)."
  value = {
    LEANOPS_STATE           = local.state_url
    LEANOPS_CATALOG         = "glue"
    LEANOPS_WAREHOUSE       = local.warehouse_uri
    LEANOPS_SCHEMAS         = local.schemas_uri
    LEANOPS_ALERT_SNS_TOPIC = module.monitoring.alerts_topic_arn
    AWS_REGION              = var.region
    # leanops accountability --pre-raw
    LEANOPS_INGEST_QUEUE_URL    = module.ingestion.queue_url
    LEANOPS_DLQ_URL             = module.ingestion.dlq_url
    LEANOPS_FIREHOSE_ERRORS_URI = "s3://${module.storage.lake_bucket_name}/${module.ingestion.firehose_errors_prefix}/"
  }
}
