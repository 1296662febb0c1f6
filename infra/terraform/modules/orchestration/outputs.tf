output "state_machine_arns" {
  description = "ARN of each state machine by key: orchestrator, topic_pipeline, historical_rebuilder, file_manifest."
  value = {
    orchestrator         = aws_sfn_state_machine.orchestrator.arn
    topic_pipeline       = aws_sfn_state_machine.topic_pipeline.arn
    historical_rebuilder = aws_sfn_state_machine.historical_rebuilder.arn
    file_manifest        = aws_sfn_state_machine.file_manifest.arn
  }
}

output "state_machine_names" {
  description = "Name of each state machine by key."
  value       = local.machine_names
}

output "role_arns" {
  description = "Execution role of each state machine by key."
  value       = { for key, role in aws_iam_role.this : key => role.arn }
}

output "schedule_rule_name" {
  description = "EventBridge rule that starts the orchestrator."
  value       = aws_cloudwatch_event_rule.orchestrator.name
}
