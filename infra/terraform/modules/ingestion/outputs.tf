output "queue_url" {
  description = "URL of the ingestion queue (producers send here, with the message attribute `topic`)."
  value       = module.queue.url
}

output "queue_arn" {
  description = "ARN of the ingestion queue."
  value       = module.queue.arn
}

output "queue_name" {
  description = "Name of the ingestion queue."
  value       = module.queue.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.queue.dlq_url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = module.queue.dlq_arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = module.queue.dlq_name
}

output "delivery_stream_names" {
  description = "Firehose delivery stream of each topic."
  value       = { for topic, s in aws_kinesis_firehose_delivery_stream.raw : topic => s.name }
}

output "delivery_stream_arns" {
  description = "ARNs of the delivery streams."
  value       = [for s in aws_kinesis_firehose_delivery_stream.raw : s.arn]
}

output "firehose_role_arn" {
  description = "Role Firehose delivers with (it needs Glue and S3 access to every RAW table it writes)."
  value       = aws_iam_role.firehose.arn
}

output "firehose_errors_prefix" {
  description = "Key prefix (no trailing /) of the delivery streams' error output in the lake bucket: <prefix>/<topic>/."
  value       = local.error_prefix
}
