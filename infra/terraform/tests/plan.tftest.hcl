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
    values = { partition = "aws", dns_suffix = "amazonaws.com" }
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
      table_maintenance      = "leanops-table-maintenance"
      file_processor         = "leanops-file-processor"
    }
    error_message = "Unexpected Glue job names."
  }
  assert {
    condition     = keys(output.lambda_function_names) == ["dlq_drainer", "fetch_active_topics", "flow_step", "health_check", "manifest_builder", "notify", "snowflake_refresh", "sqs_to_firehose"]
    error_message = "Unexpected Lambda functions."
  }
  assert {
    condition     = local.ingest_queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-ingest"
    error_message = "health_check's LEANOPS_INGEST_QUEUE_URL must be the ingestion queue's URL."
  }
  assert {
    condition     = output.manifest_builder_function_name == "leanops-manifest-builder"
    error_message = "Unexpected manifest builder function name."
  }
  assert {
    condition     = local.file_workflow_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:leanops-file-manifest"
    error_message = "LEANOPS_FILE_WORKFLOW_ARN must be the file-manifest state machine's ARN."
  }
  assert {
    condition     = local.manifest_prefix == "manifests/"
    error_message = "Manifest documents go under manifests/ of the artifacts bucket."
  }
}

run "distributed_map_without_tracing_with_a_landing_prefix" {
  command = plan

  variables {
    orchestrator_map_mode   = "DISTRIBUTED"
    alert_emails            = ["ops@example.com"]
    max_concurrency         = 50
    enable_tracing          = false
    landing_prefix          = "incoming/"
    file_processor_job_name = "files-to-raw"
  }

  assert {
    condition     = output.glue_job_names.file_processor == "files-to-raw"
    error_message = "file_processor_job_name names the file processor job."
  }
}

run "landing_prefix_must_end_with_a_slash" {
  command = plan

  variables {
    landing_prefix = "incoming"
  }

  expect_failures = [var.landing_prefix]
}

run "manifest_lock_must_outlive_the_builder" {
  command = plan

  module {
    source = "./modules/lambdas"
  }

  variables {
    name                        = "leanops"
    account_id                  = "123456789012"
    partition                   = "aws"
    lambda_zip_path             = "main.tf" # any existing file: the plan only hashes the zips
    layer_zip_path              = "main.tf"
    artifacts_bucket            = "artifacts"
    kms_key_arn                 = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    state_url                   = "dynamodb://leanops_?region=eu-west-1"
    state_table_arns            = ["arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_PipelineRegistry"]
    warehouse_uri               = "s3://lake/warehouse"
    lake_bucket                 = "lake"
    warehouse_prefix            = "warehouse"
    schemas_uri                 = "s3://artifacts/schemas/"
    schemas_prefix              = "schemas"
    glue_databases              = { raw = "raw", standardized = "standardized", curated = "curated", semantic = "semantic" }
    alerts_topic_arn            = "arn:aws:sns:eu-west-1:123456789012:leanops-alerts"
    source_queue_arn            = "arn:aws:sqs:eu-west-1:123456789012:leanops-ingest"
    dlq_arn                     = "arn:aws:sqs:eu-west-1:123456789012:leanops-ingest-dlq"
    dlq_url                     = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-ingest-dlq"
    firehose_stream             = "leanops-{topic}"
    firehose_stream_arns        = []
    landing_queue_arn           = "arn:aws:sqs:eu-west-1:123456789012:leanops-landing-events"
    file_workflow_arn           = "arn:aws:states:eu-west-1:123456789012:stateMachine:leanops-file-manifest"
    manifest_builder_table_arns = ["arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_FileTracking"]
    manifest_lock_ttl_seconds   = 60
    source_queue_url            = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-ingest"
    firehose_errors_prefix      = "firehose-errors"
    drift_log_stream_arn        = "arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_DriftLog/stream/2026-01-01T00:00:00.000"
  }

  expect_failures = [aws_lambda_function.this]
}

# The landing module alone, applied against the mock: S3 events -> queue (+ DLQ) -> manifest_builder; the flush schedule.
run "landing_events_wiring" {
  command = apply

  module {
    source = "./modules/landing"
  }

  # The provider validates ARNs on apply; the mock's random strings are none.
  override_resource {
    target = module.queue.aws_sqs_queue.main
    values = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:leanops-landing-events"
      id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-landing-events"
    }
  }
  override_resource {
    target = module.queue.aws_sqs_queue.dlq
    values = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:leanops-landing-events-dlq"
      id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-landing-events-dlq"
    }
  }
  override_resource {
    target = aws_cloudwatch_event_rule.flush
    values = { arn = "arn:aws:events:eu-west-1:123456789012:rule/leanops-manifest-flush" }
  }

  variables {
    name                    = "leanops"
    account_id              = "123456789012"
    landing_bucket          = "leanops-dev-123456789012-eu-west-1-landing"
    landing_bucket_arn      = "arn:aws:s3:::leanops-dev-123456789012-eu-west-1-landing"
    landing_prefix          = "incoming/"
    builder_function_arn    = "arn:aws:lambda:eu-west-1:123456789012:function:leanops-manifest-builder"
    builder_function_name   = "leanops-manifest-builder"
    builder_timeout_seconds = 180
  }

  assert {
    condition     = module.queue.name == "leanops-landing-events" && module.queue.dlq_name == "leanops-landing-events-dlq"
    error_message = "Unexpected landing queue names."
  }
  assert {
    condition = (
      length(aws_s3_bucket_notification.landing.queue) == 1
      && aws_s3_bucket_notification.landing.bucket == "leanops-dev-123456789012-eu-west-1-landing"
      && aws_s3_bucket_notification.landing.queue[0].queue_arn == module.queue.arn
      && aws_s3_bucket_notification.landing.queue[0].events == toset(["s3:ObjectCreated:*"])
      && aws_s3_bucket_notification.landing.queue[0].filter_prefix == "incoming/"
      && !coalesce(aws_s3_bucket_notification.landing.eventbridge, false)
    )
    error_message = "The landing bucket must announce created objects under the prefix to the landing events queue."
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.builder.event_source_arn == module.queue.arn
      && aws_lambda_event_source_mapping.builder.function_name == "arn:aws:lambda:eu-west-1:123456789012:function:leanops-manifest-builder"
      && aws_lambda_event_source_mapping.builder.batch_size == 10
      && aws_lambda_event_source_mapping.builder.function_response_types == toset(["ReportBatchItemFailures"])
    )
    error_message = "The landing events queue feeds manifest_builder in batches of 10, with partial batch failures."
  }
  assert {
    condition = (
      aws_cloudwatch_event_rule.flush.schedule_expression == "rate(5 minutes)"
      && jsondecode(aws_cloudwatch_event_target.flush.input) == { flush_due = true }
      && aws_lambda_permission.flush.source_arn == aws_cloudwatch_event_rule.flush.arn
    )
    error_message = "The flush schedule runs manifest_builder with {\"flush_due\": true} every 5 minutes."
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

    landing_bucket          = "landing"
    file_processor_job_name = "leanops-file-processor"
  }

  expect_failures = [aws_glue_job.this]
}

run "file_processor_job" {
  command = plan

  module {
    source = "./modules/glue"
  }

  variables {
    name                    = "leanops"
    account_id              = "123456789012"
    partition               = "aws"
    artifacts_bucket        = "artifacts"
    lake_bucket             = "lake"
    warehouse_prefix        = "warehouse"
    warehouse_uri           = "s3://lake/warehouse"
    schemas_prefix          = "schemas"
    schemas_uri             = "s3://artifacts/schemas/"
    state_url               = "dynamodb://leanops_?region=eu-west-1"
    state_table_arns        = ["arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_PipelineRegistry"]
    glue_databases          = { raw = "raw", standardized = "standardized", curated = "curated", semantic = "semantic" }
    kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    max_concurrent_runs     = 10
    map_concurrency         = 10
    landing_bucket          = "landing"
    landing_prefix          = "incoming/"
    file_processor_job_name = "leanops-file-processor"
  }

  assert {
    condition = (
      aws_glue_job.file_processor.name == "leanops-file-processor"
      && aws_glue_job.file_processor.glue_version == "5.0"
      && aws_glue_job.file_processor.command[0].name == "glueetl"
      && aws_glue_job.file_processor.command[0].script_location == "s3://artifacts/glue/file_processor.py"
      && aws_glue_job.file_processor.worker_type == "G.1X"
      && aws_glue_job.file_processor.number_of_workers == 2
    )
    error_message = "The file processor: Glue 5.0 glueetl running glue/file_processor.py on the smallest size."
  }
  assert {
    condition     = aws_glue_job.file_processor.default_arguments == aws_glue_job.this["standardized_processor"].default_arguments
    error_message = "The file processor takes the stage jobs' default arguments (state, catalog, warehouse, home, the wheel...)."
  }
  assert {
    condition = (
      aws_glue_job.file_processor.default_arguments["--state"] == "dynamodb://leanops_?region=eu-west-1"
      && aws_glue_job.file_processor.default_arguments["--warehouse"] == "s3://lake/warehouse"
      && !contains(keys(aws_glue_job.file_processor.default_arguments), "--manifest_id")
    )
    error_message = "--manifest_id is a per-run argument of the workflow, never a default."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.file_processor.policy).Statement, {
      Sid      = "ReadLandingFiles"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::landing/incoming/*"]
    })
    error_message = "The file processor reads the landed files (under the landing prefix)."
  }
  assert {
    condition     = aws_s3_object.script["file_processor"].key == "glue/file_processor.py"
    error_message = "glue/file_processor.py is uploaded with the other scripts."
  }
}

# The shared queue module alone (ingestion's and landing's queues), with the landing queue's S3 statement.
run "queue_with_dlq_and_policies" {
  command = apply

  module {
    source = "./modules/queue"
  }

  override_resource {
    target = aws_sqs_queue.main
    values = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:leanops-landing-events"
      id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-landing-events"
    }
  }
  override_resource {
    target = aws_sqs_queue.dlq
    values = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:leanops-landing-events-dlq"
      id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-landing-events-dlq"
    }
  }

  variables {
    name                       = "leanops-landing-events"
    visibility_timeout_seconds = 1080
    message_retention_seconds  = 345600
    max_receive_count          = 5
    send_statements = [{
      Sid       = "LandingBucketNotifications"
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Condition = { ArnEquals = { "aws:SourceArn" = "arn:aws:s3:::leanops-dev-123456789012-eu-west-1-landing" } }
    }]
  }

  assert {
    condition     = aws_sqs_queue.main.name == "leanops-landing-events" && aws_sqs_queue.dlq.name == "leanops-landing-events-dlq"
    error_message = "The DLQ is named after its queue."
  }
  assert {
    condition     = aws_sqs_queue.main.visibility_timeout_seconds == 1080 && aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "The queue takes its visibility timeout; the DLQ keeps messages 14 days."
  }
  assert {
    condition = jsondecode(aws_sqs_queue.main.redrive_policy) == {
      deadLetterTargetArn = aws_sqs_queue.dlq.arn
      maxReceiveCount     = 5
    }
    error_message = "Messages go to the DLQ after max_receive_count receives."
  }
  assert {
    condition = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq.redrive_allow_policy) == {
      redrivePermission = "byQueue"
      sourceQueueArns   = [aws_sqs_queue.main.arn]
    }
    error_message = "Only its own queue may use the DLQ."
  }
  assert {
    condition     = aws_sqs_queue.main.sqs_managed_sse_enabled && aws_sqs_queue.dlq.sqs_managed_sse_enabled
    error_message = "Both queues are encrypted (SSE-SQS)."
  }
  assert {
    condition = jsondecode(aws_sqs_queue_policy.main.policy).Statement == [
      {
        Sid       = "LandingBucketNotifications"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.main.arn
        Condition = { ArnEquals = { "aws:SourceArn" = "arn:aws:s3:::leanops-dev-123456789012-eu-west-1-landing" } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.main.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
    error_message = "The queue's policy: the given Allow statements on the queue, then TLS only."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_policy.dlq.policy).Statement[0].Resource == aws_sqs_queue.dlq.arn
    error_message = "The DLQ refuses anything but TLS too."
  }
}

# The monitoring module alone: the health check's schedule and its alarms per topic, with the seed's thresholds.
run "health_check_alarms" {
  command = plan

  module {
    source = "./modules/monitoring"
  }

  variables {
    name                       = "leanops"
    account_id                 = "123456789012"
    region                     = "eu-west-1"
    partition                  = "aws"
    kms_key_arn                = "arn:aws:kms:eu-west-1:123456789012:key/k"
    dlq_name                   = "leanops-ingest-dlq"
    landing_dlq_name           = "leanops-landing-events-dlq"
    state_machine_arns         = {}
    glue_job_names             = ["leanops-standardized-processor"]
    lambda_function_names      = { health_check = "leanops-health-check" }
    topics                     = ["events", "orders"]
    health_check_function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:leanops-health-check"
    health_check_function_name = "leanops-health-check"
  }

  assert {
    condition = keys(aws_cloudwatch_metric_alarm.health) == [
      "events-curation-lag", "events-dlq-rows-age", "events-schema-drift", "events-semantic-lag",
      "orders-curation-lag", "orders-dlq-rows-age", "orders-schema-drift", "orders-semantic-lag",
    ]
    error_message = "Each topic needs the four health alarms."
  }
  assert {
    condition = alltrue([for key, a in aws_cloudwatch_metric_alarm.health : (
      a.alarm_name == "leanops-${key}" && a.namespace == "LeanOps" && a.comparison_operator == "GreaterThanThreshold"
      && a.dimensions["Topic"] == split("-", key)[0] && length(a.dimensions) == 1 && a.treat_missing_data == "notBreaching"
    )])
    error_message = "Health alarms: named leanops-<topic>-<figure>, on LeanOps by Topic, above their threshold."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.health["events-curation-lag"].threshold == 100000
      && aws_cloudwatch_metric_alarm.health["events-curation-lag"].metric_name == "PendingCurationRecords"
      && aws_cloudwatch_metric_alarm.health["events-semantic-lag"].threshold == 7200
      && aws_cloudwatch_metric_alarm.health["events-semantic-lag"].metric_name == "SemanticLagSeconds"
      && aws_cloudwatch_metric_alarm.health["events-schema-drift"].threshold == 0
      && aws_cloudwatch_metric_alarm.health["events-schema-drift"].metric_name == "NewDriftEntries"
      && aws_cloudwatch_metric_alarm.health["events-dlq-rows-age"].threshold == 604800
      && aws_cloudwatch_metric_alarm.health["events-dlq-rows-age"].metric_name == "DlqOldestAgeSeconds"
      && aws_cloudwatch_metric_alarm.dlq_age.threshold == 604800
    )
    error_message = "Seed 004's thresholds: 100,000 records, 2 h, any new drift entry, 7 days."
  }
  assert {
    condition = (
      aws_cloudwatch_event_rule.health_check.schedule_expression == "rate(5 minutes)"
      && aws_cloudwatch_event_target.health_check.arn == "arn:aws:lambda:eu-west-1:123456789012:function:leanops-health-check"
      && aws_lambda_permission.health_check.principal == "events.amazonaws.com"
    )
    error_message = "The health check runs every 5 minutes."
  }
}

# The lambdas module with a Snowflake secret: the drift log's stream triggers the refresh, Semantic commits invoke it.
run "snowflake_refresh_wiring" {
  command = plan

  module {
    source = "./modules/lambdas"
  }

  variables {
    name                        = "leanops"
    account_id                  = "123456789012"
    partition                   = "aws"
    lambda_zip_path             = "main.tf" # any existing file: the plan only hashes the zips
    layer_zip_path              = "main.tf"
    artifacts_bucket            = "artifacts"
    kms_key_arn                 = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    state_url                   = "dynamodb://leanops_?region=eu-west-1"
    state_table_arns            = ["arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_PipelineRegistry"]
    warehouse_uri               = "s3://lake/warehouse"
    lake_bucket                 = "lake"
    warehouse_prefix            = "warehouse"
    schemas_uri                 = "s3://artifacts/schemas/"
    schemas_prefix              = "schemas"
    glue_databases              = { raw = "raw", standardized = "standardized", curated = "curated", semantic = "semantic" }
    alerts_topic_arn            = "arn:aws:sns:eu-west-1:123456789012:leanops-alerts"
    source_queue_arn            = "arn:aws:sqs:eu-west-1:123456789012:leanops-ingest"
    dlq_arn                     = "arn:aws:sqs:eu-west-1:123456789012:leanops-ingest-dlq"
    dlq_url                     = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-ingest-dlq"
    firehose_stream             = "leanops-{topic}"
    firehose_stream_arns        = []
    landing_queue_arn           = "arn:aws:sqs:eu-west-1:123456789012:leanops-landing-events"
    file_workflow_arn           = "arn:aws:states:eu-west-1:123456789012:stateMachine:leanops-file-manifest"
    manifest_builder_table_arns = ["arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_FileTracking"]
    source_queue_url            = "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-ingest"
    firehose_errors_prefix      = "firehose-errors"
    drift_log_stream_arn        = "arn:aws:dynamodb:eu-west-1:123456789012:table/leanops_DriftLog/stream/2026-01-01T00:00:00.000"
    snowflake_secret_arn        = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:leanops/snowflake-AbCdEf"
    snowflake_layer_arn         = "arn:aws:lambda:eu-west-1:123456789012:layer:snowflake-connector:1"
  }

  assert {
    condition = (
      length(aws_lambda_event_source_mapping.drift_log) == 1
      && aws_lambda_event_source_mapping.drift_log[0].starting_position == "LATEST"
      && aws_lambda_event_source_mapping.drift_log[0].bisect_batch_on_function_error
      && jsondecode(one(one(aws_lambda_event_source_mapping.drift_log[0].filter_criteria).filter).pattern) == { eventName = ["INSERT"] }
    )
    error_message = "New drift-log entries must trigger the Snowflake refresh."
  }
  assert {
    condition = (
      aws_lambda_function.this["snowflake_refresh"].environment[0].variables.LEANOPS_SNOWFLAKE_SECRET_ARN == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:leanops/snowflake-AbCdEf"
      && aws_lambda_function.this["snowflake_refresh"].environment[0].variables.LEANOPS_SNOWFLAKE_DATABASE == "LAKEHOUSE"
      && contains(aws_lambda_function.this["snowflake_refresh"].layers, "arn:aws:lambda:eu-west-1:123456789012:layer:snowflake-connector:1")
      && aws_lambda_function.this["flow_step"].environment[0].variables.LEANOPS_REFRESH_LAMBDA == "leanops-snowflake-refresh"
    )
    error_message = "The refresh function gets the secret and the connector layer; flow_step invokes it after Semantic commits."
  }
  assert {
    condition = (
      aws_lambda_function.this["health_check"].environment[0].variables.LEANOPS_INGEST_QUEUE_URL == "https://sqs.eu-west-1.amazonaws.com/123456789012/leanops-ingest"
      && aws_lambda_function.this["health_check"].environment[0].variables.LEANOPS_FIREHOSE_ERRORS_URI == "s3://lake/firehose-errors/"
      && aws_lambda_function.this["health_check"].environment[0].variables.LEANOPS_HEALTH_NAMESPACE == "LeanOps"
    )
    error_message = "health_check needs the queue, the DLQ and the Firehose error prefix for Pre-RAW accountability."
  }
}
