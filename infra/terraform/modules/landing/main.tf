# The AWS half of the file landing path (seed 003, docs/landing.md): the landing bucket's object-created events
# go to an SQS queue that manifest_builder consumes; a schedule flushes manifests below the thresholds after
# max wait. The builder hands each manifest to the file-manifest workflow, which runs the file processor job.
#
#   landing bucket --(s3:ObjectCreated:*)--> <name>-landing-events --> manifest_builder --> file-manifest workflow
#   EventBridge rate(5 minutes) --{"flush_due": true}--> manifest_builder
#
# The bucket's single aws_s3_bucket_notification lives here (a bucket has one notification configuration;
# it used to be the storage module's EventBridge switch, which nothing consumed).

locals {
  events_queue_name = "${var.name}-landing-events"
}

# --- queues ------------------------------------------------------------------------------------------------

module "queue" {
  source = "../queue"

  name                       = local.events_queue_name
  visibility_timeout_seconds = 6 * var.builder_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  max_receive_count          = var.max_receive_count
  send_statements = [{
    Sid       = "LandingBucketNotifications"
    Effect    = "Allow"
    Principal = { Service = "s3.amazonaws.com" }
    Action    = "sqs:SendMessage"
    Condition = {
      ArnEquals    = { "aws:SourceArn" = var.landing_bucket_arn }
      StringEquals = { "aws:SourceAccount" = var.account_id }
    }
  }]
}

# the queues were this module's own resources before the shared queue module
moved {
  from = aws_sqs_queue.dlq
  to   = module.queue.aws_sqs_queue.dlq
}
moved {
  from = aws_sqs_queue.events
  to   = module.queue.aws_sqs_queue.main
}
moved {
  from = aws_sqs_queue_redrive_allow_policy.dlq
  to   = module.queue.aws_sqs_queue_redrive_allow_policy.dlq
}
moved {
  from = aws_sqs_queue_policy.events
  to   = module.queue.aws_sqs_queue_policy.main
}
moved {
  from = aws_sqs_queue_policy.dlq
  to   = module.queue.aws_sqs_queue_policy.dlq
}

# --- the landing bucket's notifications ----------------------------------------------------------------------

resource "aws_s3_bucket_notification" "landing" {
  bucket = var.landing_bucket

  queue {
    id            = "landing-files-to-manifest-builder"
    queue_arn     = module.queue.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.landing_prefix == "" ? null : var.landing_prefix
  }

  # S3 sends a test event and checks the queue policy when the configuration is put.
  depends_on = [module.queue.policy_id]
}

# --- manifest_builder: the queue and the flush schedule ------------------------------------------------------

resource "aws_lambda_event_source_mapping" "builder" {
  event_source_arn                   = module.queue.arn
  function_name                      = var.builder_function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  # Messages the builder could not handle now come back in batchItemFailures: only those are redelivered.
  function_response_types = ["ReportBatchItemFailures"]

  # Building is serialised per topic by a lock; more concurrent builders would only wait for it.
  scaling_config {
    maximum_concurrency = var.builder_max_concurrency
  }
}

resource "aws_cloudwatch_event_rule" "flush" {
  name                = "${var.name}-manifest-flush"
  description         = "Runs manifest_builder with flush_due: manifests below the thresholds close after max wait"
  schedule_expression = var.flush_schedule
}

resource "aws_cloudwatch_event_target" "flush" {
  rule  = aws_cloudwatch_event_rule.flush.name
  arn   = var.builder_function_arn
  input = jsonencode({ flush_due = true })
}

resource "aws_lambda_permission" "flush" {
  statement_id  = "AllowFlushScheduleToRunTheBuilder"
  action        = "lambda:InvokeFunction"
  function_name = var.builder_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.flush.arn
}
