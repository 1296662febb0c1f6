# One customer-managed key for the project's data at rest: the S3 buckets (lake, artifacts, landing), the
# DynamoDB tables, the SNS alerts topic, the CloudWatch log groups, the Firehose streams, the Glue security
# configuration and the Lambda environment variables. Identities get kms:* actions on it through their own
# IAM policies (the first statement delegates to IAM); services that act on their own get a statement here.

locals {
  account_root = "arn:${var.partition}:iam::${var.account_id}:root"
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: lake, artifacts, state tables, alerts, logs, delivery streams, Lambda settings"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days

  # In a key policy, Resource "*" means "this key": a key policy cannot name any other resource.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # Encrypted log groups (Lambda, Step Functions, Firehose, Glue): only for this account's log groups in this region.
        Sid       = "CloudWatchLogsEncryptsTheProjectsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:*"
          }
        }
      },
      {
        # CloudWatch alarms and EventBridge rules publish to the encrypted alerts topic: SNS then uses the
        # key on their behalf, which needs these two actions granted to the publishing service.
        Sid       = "AlarmsAndRulesPublishToTheEncryptedAlertsTopic"
        Effect    = "Allow"
        Principal = { Service = ["cloudwatch.amazonaws.com", "events.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
