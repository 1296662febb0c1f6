output "queue_url" {
  description = "URL of the landing events queue (the landing bucket's object-created notifications)."
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  description = "ARN of the landing events queue."
  value       = aws_sqs_queue.events.arn
}

output "dlq_url" {
  description = "URL of the landing events DLQ."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the landing events DLQ."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the landing events DLQ (its oldest message's age is alarmed)."
  value       = aws_sqs_queue.dlq.name
}

output "flush_rule_name" {
  description = "EventBridge rule that runs manifest_builder with flush_due."
  value       = aws_cloudwatch_event_rule.flush.name
}
