output "url" {
  description = "URL of the queue."
  value       = aws_sqs_queue.main.id
}

output "arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.main.arn
}

output "name" {
  description = "Name of the queue."
  value       = aws_sqs_queue.main.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "policy_id" {
  description = "The queue policy (a bucket notification must wait for it: S3 checks it on put)."
  value       = aws_sqs_queue_policy.main.id
}
