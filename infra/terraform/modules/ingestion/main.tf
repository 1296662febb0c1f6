# Ingestion (seed 001): SQS -> sqs_to_firehose -> one Firehose stream per topic -> raw.<topic>_staging
# (Firehose's Apache Iceberg destination on the Glue catalog). Failures after max_receive_count receives go
# to the DLQ, which dlq_drainer empties into raw.dlq_errors on a schedule (docs/aws-lambdas.md).
#
# One queue carries every topic: producers set the message attribute `topic` (the forwarder's fallback, the
# queue's name, is not a topic here). The RAW tables must exist before their stream delivers (lean-ops
# creates them: docs/terraform.md, "First deployment").

locals {
  lake_arn         = "arn:${var.partition}:s3:::${var.lake_bucket}"
  glue_catalog_arn = "arn:${var.partition}:glue:${var.region}:${var.account_id}:catalog"
  glue_arn_prefix  = "arn:${var.partition}:glue:${var.region}:${var.account_id}"
  topics           = toset(var.topics)
  error_prefix     = "firehose-errors"
  table_prefix     = { for t in local.topics : t => "${var.warehouse_prefix}/${var.raw_database}.db/${t}_staging" }
}

# --- queues ------------------------------------------------------------------------------------------------

module "queue" {
  source = "../queue"

  name                       = "${var.name}-ingest"
  visibility_timeout_seconds = 6 * var.forwarder_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  max_receive_count          = var.max_receive_count
}

# the queues were this module's own resources before the shared queue module
moved {
  from = aws_sqs_queue.dlq
  to   = module.queue.aws_sqs_queue.dlq
}
moved {
  from = aws_sqs_queue.ingest
  to   = module.queue.aws_sqs_queue.main
}
moved {
  from = aws_sqs_queue_redrive_allow_policy.dlq
  to   = module.queue.aws_sqs_queue_redrive_allow_policy.dlq
}
moved {
  from = aws_sqs_queue_policy.tls_only["ingest"]
  to   = module.queue.aws_sqs_queue_policy.main
}
moved {
  from = aws_sqs_queue_policy.tls_only["dlq"]
  to   = module.queue.aws_sqs_queue_policy.dlq
}

resource "aws_lambda_event_source_mapping" "forwarder" {
  event_source_arn                   = module.queue.arn
  function_name                      = var.forwarder_function_arn
  batch_size                         = var.forwarder_batch_size
  maximum_batching_window_in_seconds = var.forwarder_batching_window_seconds
  # Without it Lambda treats the returned document as success and deletes the failed messages too.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.forwarder_max_concurrency
  }
}

# --- Firehose: one stream per topic into its RAW table ---------------------------------------------------

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "firehose" {
  for_each = local.topics

  name           = "${each.key}-iceberg"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_iam_role" "firehose" {
  name        = "${var.name}-firehose"
  description = "Firehose delivery into the RAW Iceberg tables"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "firehose.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "firehose" {
  name = "least-privilege"
  role = aws_iam_role.firehose.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Iceberg destination: read the table, commit new metadata (UpdateTable).
        Sid    = "RawTables"
        Effect = "Allow"
        Action = ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
        Resource = concat(
          [local.glue_catalog_arn, "${local.glue_arn_prefix}:database/${var.raw_database}"],
          [for t in local.topics : "${local.glue_arn_prefix}:table/${var.raw_database}/${t}_staging"],
        )
      },
      {
        Sid      = "LakeBucket"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
        Resource = [local.lake_arn]
      },
      {
        Sid      = "ListRawTablesAndErrors"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [local.lake_arn]
        Condition = { StringLike = { "s3:prefix" = concat(
          [for t in local.topics : "${local.table_prefix[t]}/*"],
          ["${local.error_prefix}/*"],
        ) } }
      },
      {
        Sid    = "WriteRawTableFiles"
        Effect = "Allow"
        Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = concat(
          [for t in local.topics : "${local.lake_arn}/${local.table_prefix[t]}/*"],
          ["${local.lake_arn}/${local.error_prefix}/*"],
        )
      },
      {
        Sid      = "ProjectKeyForS3"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
      },
      {
        Sid      = "DeliveryLogs"
        Effect   = "Allow"
        Action   = ["logs:PutLogEvents"]
        Resource = [for s in aws_cloudwatch_log_stream.firehose : s.arn]
      },
    ]
  })
}

resource "aws_kinesis_firehose_delivery_stream" "raw" {
  for_each = local.topics

  name        = "${var.name}-${each.key}"
  destination = "iceberg"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = var.kms_key_arn
  }

  iceberg_configuration {
    role_arn           = aws_iam_role.firehose.arn
    catalog_arn        = local.glue_catalog_arn
    buffering_size     = var.firehose_buffering_size_mb
    buffering_interval = var.firehose_buffering_interval_seconds
    retry_duration     = 300
    s3_backup_mode     = "FailedDataOnly"

    # sqs_to_firehose sends exactly RAW's columns as one JSON line per message: appended as they are.
    destination_table_configuration {
      database_name = var.raw_database
      table_name    = "${each.key}_staging"
    }

    # Records that could not be delivered land here (Pre-RAW accountability counts them: docs/aws-lambdas.md).
    s3_configuration {
      role_arn            = aws_iam_role.firehose.arn
      bucket_arn          = local.lake_arn
      error_output_prefix = "${local.error_prefix}/${each.key}/!{firehose:error-output-type}/"
      kms_key_arn         = var.kms_key_arn
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose[each.key].name
    }
  }

  lifecycle {
    precondition {
      condition     = length("${var.name}-${each.key}") <= 64
      error_message = "Firehose stream names have at most 64 characters: shorten the topic or the project."
    }
  }

  # Firehose checks its role's access to the table when the stream is created.
  depends_on = [aws_iam_role_policy.firehose]
}

# --- DLQ drainer on a schedule --------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "dlq_drain" {
  name                = "${var.name}-dlq-drain"
  description         = "Runs dlq_drainer: DLQ -> raw.dlq_errors"
  schedule_expression = var.dlq_drain_schedule
}

resource "aws_cloudwatch_event_target" "dlq_drain" {
  rule = aws_cloudwatch_event_rule.dlq_drain.name
  arn  = var.dlq_drainer_function_arn
}

resource "aws_lambda_permission" "dlq_drain" {
  statement_id  = "AllowScheduleToRunTheDrainer"
  action        = "lambda:InvokeFunction"
  function_name = var.dlq_drainer_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.dlq_drain.arn
}
