# A work queue and its dead-letter queue, the way every queue of the deployment is made: SSE-SQS, the DLQ
# keeping messages 14 days (SQS's maximum), a redrive after max_receive_count receives that only this
# queue may use, and policies that refuse anything but TLS. `send_statements` add Allow statements to the
# queue's policy (their Resource is set to the queue): the landing bucket's notifications use it.

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600 # 14 days, SQS's maximum: time to drain or redrive what failed
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "main" {
  name                       = var.name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  # SSE-SQS: S3 can deliver notifications to it without a grant on a customer-managed key.
  sqs_managed_sse_enabled = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main.arn]
  })
}

resource "aws_sqs_queue_policy" "main" {
  queue_url = aws_sqs_queue.main.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [for s in concat(var.send_statements, [local.deny_insecure]) : merge(s, { Resource = aws_sqs_queue.main.arn })]
  })
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [merge(local.deny_insecure, { Resource = aws_sqs_queue.dlq.arn })]
  })
}

locals {
  deny_insecure = {
    Sid       = "DenyInsecureTransport"
    Effect    = "Deny"
    Principal = "*"
    Action    = "sqs:*"
    Condition = { Bool = { "aws:SecureTransport" = "false" } }
  }
}
