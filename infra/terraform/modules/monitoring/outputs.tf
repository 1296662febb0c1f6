output "alerts_topic_arn" {
  description = "The alerts SNS topic (LEANOPS_ALERT_SNS_TOPIC)."
  value       = aws_sns_topic.alerts.arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the deployment."
  value = concat(
    [aws_cloudwatch_metric_alarm.dlq_age.alarm_name],
    [aws_cloudwatch_metric_alarm.landing_dlq_age.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.executions_failed : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.health : a.alarm_name],
  )
}

output "glue_failure_rule_name" {
  description = "EventBridge rule that sends failed Glue job runs to the alerts topic."
  value       = aws_cloudwatch_event_rule.glue_job_failed.name
}

output "health_check_rule_name" {
  description = "EventBridge rule that runs the health check."
  value       = aws_cloudwatch_event_rule.health_check.name
}
