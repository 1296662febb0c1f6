# Offline plan of the whole deployment against a mocked AWS provider (no credentials, no API calls):
#   terraform init -backend=false && terraform test -var artifacts_dir=DIR
# DIR holds what `leanops package --out DIR` writes plus leanops-layer.zip (placeholder files do: only their
# names and hashes are read). tests/test_terraform.py runs it with the provider from a local plugin mirror.

mock_provider "aws" {
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
}

variables {
  region = "eu-west-1"
  topics = ["events", "orders"]
}

run "inline_map" {
  command = plan

  assert {
    condition     = output.leanops_env.LEANOPS_STATE == "dynamodb://leanops_?region=eu-west-1"
    error_message = "LEANOPS_STATE must name the tables' prefix: leanops_ + suffix (leanops.state.dynamodb)."
  }
  assert {
    condition     = alltrue([for suffix, name in output.table_names : name == "leanops_${suffix}"])
    error_message = "DynamoDB tables must be named <prefix><Suffix>, the names the state store opens."
  }
  assert {
    condition     = output.lake_bucket == "leanops-dev-123456789012-eu-west-1-lake"
    error_message = "Unexpected lake bucket name."
  }
  assert {
    condition     = output.leanops_env.LEANOPS_WAREHOUSE == "s3://${output.lake_bucket}/warehouse"
    error_message = "LEANOPS_WAREHOUSE must be the lake bucket's warehouse prefix."
  }
  assert {
    condition     = output.leanops_env.LEANOPS_SCHEMAS == "s3://${output.artifacts_bucket}/schemas/"
    error_message = "LEANOPS_SCHEMAS must be the artifacts bucket's schemas/ prefix."
  }
  assert {
    condition     = output.delivery_stream_names == { events = "leanops-events", orders = "leanops-orders" }
    error_message = "One delivery stream leanops-<topic> per topic (sqs_to_firehose's LEANOPS_FIREHOSE_STREAM=leanops-{topic})."
  }
  assert {
    condition = output.glue_job_names == {
      standardized_processor = "leanops-standardized-processor"
      curated_processor      = "leanops-curated-processor"
      semantic_processor     = "leanops-semantic-processor"
      historical_rebuilder   = "leanops-historical-rebuilder"
    }
    error_message = "Unexpected Glue job names."
  }
  assert {
    condition     = keys(output.lambda_function_names) == ["dlq_drainer", "fetch_active_topics", "flow_step", "notify", "sqs_to_firehose"]
    error_message = "Unexpected Lambda functions."
  }
}

run "distributed_map_without_tracing" {
  command = plan

  variables {
    orchestrator_map_mode = "DISTRIBUTED"
    alert_emails          = ["ops@example.com"]
    max_concurrency       = 50
    enable_tracing        = false
  }
}

run "glue_jobs_refuse_fewer_runs_than_the_map" {
  command = plan

  module {
    source = "./modules/glue"
  }

  variables {
    name                = "leanops"
    account_id          = "123456789012"
    partition           = "aws"
    artifacts_bucket    = "artifacts"
    lake_bucket         = "lake"
    warehouse_prefix    = "warehouse"
    warehouse_uri       = "s3://lake/warehouse"
    schemas_prefix      = "schemas"
    schemas_uri         = "s3://artifacts/schemas/"
    state_url           = "dynamodb://leanops_?region=eu-west-1"
    state_table_arns    = ["arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_PipelineRegistry"]
    glue_databases      = { raw = "raw", standardized = "standardized", curated = "curated", semantic = "semantic" }
    kms_key_arn         = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    max_concurrent_runs = 2
    map_concurrency     = 10
  }

  expect_failures = [aws_glue_job.this]
}
