output "function_arns" {
  description = "ARN of each function by key: sqs_to_firehose, dlq_drainer, fetch_active_topics, flow_step, notify, manifest_builder."
  value       = { for key, fn in aws_lambda_function.this : key => fn.arn }
}

output "function_names" {
  description = "Name of each function by key."
  value       = { for key, fn in aws_lambda_function.this : key => fn.function_name }
}

output "function_timeouts" {
  description = "Timeout (seconds) of each function by key: the ingestion queue's visibility timeout follows sqs_to_firehose's."
  value       = { for key, fn in local.functions : key => fn.timeout }
}

output "role_arns" {
  description = "Execution role of each function by key."
  value       = { for key, role in aws_iam_role.this : key => role.arn }
}

output "layer_arn" {
  description = "ARN (with version) of the dependencies layer."
  value       = aws_lambda_layer_version.deps.arn
}
