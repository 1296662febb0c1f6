output "queue_url" {
  description = "URL of the landing events queue (the landing bucket's object-created notifications)."
  value       = module.queue.url
}

output "queue_arn" {
  description = "ARN of the landing events queue."
  value       = module.queue.arn
}

output "dlq_url" {
  description = "URL of the landing events DLQ."
  value       = module.queue.dlq_url
}

output "dlq_arn" {
  description = "ARN of the landing events DLQ."
  value       = module.queue.dlq_arn
}

output "dlq_name" {
  description = "Name of the landing events DLQ (its oldest message's age is alarmed)."
  value       = module.queue.dlq_name
}

output "flush_rule_name" {
  description = "EventBridge rule that runs manifest_builder with flush_due."
  value       = aws_cloudwatch_event_rule.flush.name
}
