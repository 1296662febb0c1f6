# The lake's storage: three data buckets (SSE-KMS, versioned, private, TLS only, access-logged), the bucket
# their server access logs go to, and the Glue databases that are lean-ops' zones.

locals {
  bucket_suffix = "${var.account_id}-${var.region}"

  # lake:      the Iceberg warehouse (warehouse/<zone>.db/<table>/) and Firehose's failed records (firehose-errors/)
  # artifacts: Glue scripts (glue/), the lean-ops wheel (wheels/), the Lambda layer (layers/), topic schemas (schemas/)
  # landing:   NDJSON files of the seed-003 file workflow (<topic>/.../*.ndjson[.gz]; events: the landing module)
  data_buckets = toset(["lake", "artifacts", "landing"])

  # lean-ops' zones are the Glue databases (docs/aws-catalog.md): fixed names, the code addresses raw.<topic>_staging etc.
  zones = toset(["raw", "standardized", "curated", "semantic"])
}

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_144:Single-region deployment. Iceberg metadata holds absolute s3:// paths of this bucket, so a replica is not a usable table without rewriting it; versioning + noncurrent retention cover deletes and overwrites.
  #checkov:skip=CKV2_AWS_62:No consumer of object events in lake and artifacts (Iceberg commits are seen through the Glue catalog). The landing bucket's events go to SQS through the landing module's aws_s3_bucket_notification; for_each makes one skip cover the three buckets.
  for_each = local.data_buckets

  bucket        = "${var.name_prefix}-${local.bucket_suffix}-${each.key}"
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      condition     = length("${var.name_prefix}-${local.bucket_suffix}-${each.key}") <= 63
      error_message = "S3 bucket names have at most 63 characters: shorten project or environment."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "data" {
  for_each = local.data_buckets

  bucket = aws_s3_bucket.data[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each = local.data_buckets

  bucket                  = aws_s3_bucket.data[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = local.data_buckets

  bucket = aws_s3_bucket.data[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = local.data_buckets

  bucket = aws_s3_bucket.data[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  for_each = local.data_buckets

  bucket = aws_s3_bucket.data[each.key].id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Iceberg's snapshot expiry deletes data files; versioning keeps them recoverable this long.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket_logging" "data" {
  for_each = local.data_buckets

  bucket        = aws_s3_bucket.data[each.key].id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_policy" "data" {
  for_each = local.data_buckets

  bucket = aws_s3_bucket.data[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.data[each.key].arn, "${aws_s3_bucket.data[each.key].arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyTlsBelow12"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.data[each.key].arn, "${aws_s3_bucket.data[each.key].arn}/*"]
        Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.data]
}

# The landing bucket's notification configuration (object-created events -> SQS -> manifest_builder) is the
# landing module's: it needs that module's queue and queue policy, and a bucket has exactly one.

# --- server access logs of the data buckets -----------------------------------------------------------

# Not access-logged itself: logging the log bucket into itself would log every log delivery.
resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_144:Single-region deployment; the access logs are an audit trail kept in place (versioned, lifecycle-expired).
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of log deliveries.
  #checkov:skip=CKV_AWS_145:S3 server access log delivery supports only SSE-S3 (AES256) on the target bucket, not SSE-KMS.
  bucket        = "${var.name_prefix}-${local.bucket_suffix}-access-logs"
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      condition     = length("${var.name_prefix}-${local.bucket_suffix}-access-logs") <= 63
      error_message = "S3 bucket names have at most 63 characters: shorten project or environment."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3ServerAccessLogsOfTheDataBuckets"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.access_logs.arn}/*"
        Condition = {
          ArnLike      = { "aws:SourceArn" = [for b in aws_s3_bucket.data : b.arn] }
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- Glue Data Catalog: the zones ------------------------------------------------------------------------
# lean-ops creates missing databases on first open (Lakehouse.ensure_namespaces); owning them here means no
# runtime role needs glue:CreateDatabase. No location_uri: tables keep PyIceberg's default location
# <warehouse>/<zone>.db/<table>/ (docs/aws-catalog.md).

resource "aws_glue_catalog_database" "zone" {
  for_each = local.zones

  name        = each.key
  description = "lean-ops ${each.key} zone (Iceberg tables)"
}
