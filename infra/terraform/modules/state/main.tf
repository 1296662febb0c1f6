# The DynamoDB state store (docs/aws-state.md). With Terraform owning the tables the adapter never calls
# CreateTable: at start-up it only describes them, and the runtime roles have no dynamodb:CreateTable.

locals {
  # Exactly leanops.state.dynamodb.TABLES (suffix -> hash key, range key) plus its TTL_ATTRIBUTES, the
  # retention's TTL attribute on RETENTION_TTL_TABLES (run and ingest items expire `run_log_days` after they
  # finish, docs/maintenance.md) and INDEXES (the status index: pending files without a Scan);
  # tests/test_terraform.py fails when they drift apart.
  state_tables = {
    PipelineRegistry = { hash_key = "topic_name", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    Checkpoints      = { hash_key = "pipeline_id", hash_key_type = "S", range_key = "checkpoint_type", range_key_type = "S", ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    RunLog           = { hash_key = "topic", hash_key_type = "S", range_key = "run_key", range_key_type = "S", ttl_attribute = "expires_at", index_name = null, index_hash = null, index_range = null }
    IngestLog        = { hash_key = "topic", hash_key_type = "S", range_key = "ingest_id", range_key_type = "S", ttl_attribute = "expires_at", index_name = null, index_hash = null, index_range = null }
    Leases           = { hash_key = "topic", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    Rebuilds         = { hash_key = "topic_name", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    Deployments      = { hash_key = "topic_name", hash_key_type = "S", range_key = "deployment_id", range_key_type = "N", ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    AlertLog         = { hash_key = "topic", hash_key_type = "S", range_key = "kind", range_key_type = "S", ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    DriftLog         = { hash_key = "topic", hash_key_type = "S", range_key = "column_kind", range_key_type = "S", ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    Counters         = { hash_key = "counter_name", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    JobOutputs       = { hash_key = "job_run_id", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = "expires_at", index_name = null, index_hash = null, index_range = null }
    FileTracking     = { hash_key = "file_key", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = null, index_name = "status-topic", index_hash = "status", index_range = "topic" }
    FileChecksums    = { hash_key = "topic", hash_key_type = "S", range_key = "checksum", range_key_type = "S", ttl_attribute = null, index_name = null, index_hash = null, index_range = null }
    FileManifests    = { hash_key = "manifest_id", hash_key_type = "S", range_key = null, range_key_type = null, ttl_attribute = null, index_name = "status-topic", index_hash = "status", index_range = "topic" }
  }

  # FileManifests is also updated directly by the file-manifest workflow (seed 003): it SETs status,
  # updated_at, job_run_id and error on the items the state store writes.
  tables = local.state_tables
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name                        = "${var.table_prefix}${each.key}"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = each.value.hash_key
  range_key                   = each.value.range_key
  deletion_protection_enabled = var.deletion_protection
  # New drift entries feed the Snowflake refresh (docs/aws-lambdas.md): the log is insert-only, NEW_IMAGE is all.
  stream_enabled   = each.key == "DriftLog"
  stream_view_type = each.key == "DriftLog" ? "NEW_IMAGE" : null

  attribute {
    name = each.value.hash_key
    type = each.value.hash_key_type
  }

  dynamic "attribute" {
    for_each = each.value.range_key == null ? [] : [each.value]
    content {
      name = attribute.value.range_key
      type = attribute.value.range_key_type
    }
  }

  dynamic "attribute" {
    for_each = each.value.index_name == null ? [] : [each.value.index_hash, each.value.index_range]
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.index_name == null ? [] : [each.value]
    content {
      name            = global_secondary_index.value.index_name
      hash_key        = global_secondary_index.value.index_hash
      range_key       = global_secondary_index.value.index_range
      projection_type = "ALL"
    }
  }

  dynamic "ttl" {
    for_each = each.value.ttl_attribute == null ? [] : [each.value.ttl_attribute]
    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
