# Alerts and alarms: one KMS-encrypted SNS topic that lean-ops (LEANOPS_ALERT_SNS_TOPIC), the state machines,
# the alarms below and the Glue job-failure rule publish to.
#
# Glue job failures: an EventBridge rule on "Glue Job State Change" (FAILED, TIMEOUT, ERROR) rather than an
# alarm on glue.driver.aggregate.numFailedTasks. The metric counts failed Spark tasks: a task that fails and is
# retried successfully raises it while the job succeeds, and a job that fails on the driver (a bad schema file:
# exit 2, an accountability mismatch: exit 1) fails no task at all. The event fires once for every run that
# ends badly, whatever the cause, names the run, and needs no per-job metric plumbing. It also fires for an
# attempt the state machine then retries successfully (the state machine alerts again only when it gives up).

locals {
  alarm_prefix = "${var.name}-"

  # Seed 004 section 5: what the health check publishes per topic (namespace var.health_namespace, dimension
  # Topic) and when it alarms. A topic's figure above its threshold for one 5-minute period alarms.
  health_alarms = {
    curation-lag = {
      metric      = "PendingCurationRecords"
      statistic   = "Maximum"
      threshold   = var.curation_lag_threshold_records
      description = "records wait in RAW or Standardized for Curated (leanops check: CurationLag)"
    }
    semantic-lag = {
      metric      = "SemanticLagSeconds"
      statistic   = "Maximum"
      threshold   = var.semantic_lag_threshold_seconds
      description = "seconds the oldest Curated change has waited for Semantic (leanops check: SemanticLag)"
    }
    schema-drift = {
      metric      = "NewDriftEntries"
      statistic   = "Sum"
      threshold   = var.drift_threshold_entries
      description = "new drift-log entries: upstream columns Semantic does not declare (leanops drift)"
    }
    dlq-rows-age = {
      metric      = "DlqOldestAgeSeconds"
      statistic   = "Maximum"
      threshold   = var.dlq_max_age_seconds
      description = "seconds the topic's oldest raw.dlq_errors row has waited (leanops check: DlqAge; leanops errors)"
    }
  }
  topic_alarms = {
    for pair in setproduct(sort(var.topics), sort(keys(local.health_alarms))) :
    "${pair[0]}-${pair[1]}" => merge(local.health_alarms[pair[1]], { topic = pair[0] })
  }
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  # Identities of this account publish through their IAM policies; the topic policy admits the two services.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "GlueJobFailureRule"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.glue_job_failed.arn } }
      },
      {
        Sid       = "ProjectAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = {
          ArnLike      = { "aws:SourceArn" = "arn:${var.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:${local.alarm_prefix}*" }
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.key
}

# --- alarms -----------------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dlq_age" {
  alarm_name          = "${local.alarm_prefix}dlq-oldest-message-age"
  alarm_description   = "A message has waited in ${var.dlq_name} for more than ${var.dlq_max_age_seconds} s: dlq_drainer is not draining (SQS deletes messages after 14 days)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.dlq_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.dlq_max_age_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# Every message in the landing DLQ is a landed file whose event manifest_builder failed 5 times: the file is
# not tracked (nor ingested) until an operator redrives the message. Nothing drains this DLQ automatically.
resource "aws_cloudwatch_metric_alarm" "landing_dlq_age" {
  alarm_name          = "${local.alarm_prefix}landing-dlq-oldest-message-age"
  alarm_description   = "An S3 event has waited in ${var.landing_dlq_name} for more than ${var.landing_dlq_max_age_seconds} s: its landed file is not tracked. Fix the cause (manifest_builder's log), then redrive the DLQ (docs/aws-deploy.md, Landing files)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.landing_dlq_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.landing_dlq_max_age_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  for_each = var.state_machine_arns

  alarm_name          = "${local.alarm_prefix}${replace(each.key, "_", "-")}-executions-failed"
  alarm_description   = "An execution of the ${each.key} state machine failed."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = var.lambda_function_names

  alarm_name          = "${local.alarm_prefix}${replace(each.key, "_", "-")}-errors"
  alarm_description   = "The ${each.value} function raised (its invocation failed as a whole)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# --- health check: its schedule, and an alarm per topic and figure --------------------------------------------

resource "aws_cloudwatch_event_rule" "health_check" {
  name                = "${var.name}-health-check"
  description         = "Runs health_check: leanops check's figures, new drift and Pre-RAW accountability as CloudWatch metrics"
  schedule_expression = var.health_check_schedule
}

resource "aws_cloudwatch_event_target" "health_check" {
  rule = aws_cloudwatch_event_rule.health_check.name
  arn  = var.health_check_function_arn
}

resource "aws_lambda_permission" "health_check" {
  statement_id  = "AllowScheduleToRunTheHealthCheck"
  action        = "lambda:InvokeFunction"
  function_name = var.health_check_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.health_check.arn
}

resource "aws_cloudwatch_metric_alarm" "health" {
  for_each = local.topic_alarms

  alarm_name          = "${local.alarm_prefix}${each.key}"
  alarm_description   = "${each.value.topic}: ${each.value.metric} above ${each.value.threshold}: ${each.value.description}."
  namespace           = var.health_namespace
  metric_name         = each.value.metric
  dimensions          = { Topic = each.value.topic }
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no figure: no semantic section yet, or the check has not run
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# --- Glue job failures -------------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "glue_job_failed" {
  name        = "${var.name}-glue-job-failed"
  description = "A lean-ops Glue job run ended FAILED, TIMEOUT or ERROR"
  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = var.glue_job_names
      state   = ["FAILED", "TIMEOUT", "ERROR"]
    }
  })
}

resource "aws_cloudwatch_event_target" "glue_job_failed" {
  rule = aws_cloudwatch_event_rule.glue_job_failed.name
  arn  = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths = {
      job     = "$.detail.jobName"
      run     = "$.detail.jobRunId"
      state   = "$.detail.state"
      message = "$.detail.message"
    }
    input_template = "\"Glue job <job> run <run> ended <state>: <message>\""
  }
}
