# Step Functions Standard workflows (seeds 000, 001, 003) and the orchestrator's schedule.
#
# The definitions are GENERATED, never edited by hand:
#   leanops aws render --out infra/terraform/modules/orchestration/definitions
# writes the *.asl.json files and placeholders.json ({file: [template variables]}); each templatefile() below
# passes exactly the variables placeholders.json lists for its file (tests/test_terraform.py checks it).

locals {
  machine_names = {
    orchestrator         = "${var.name}-orchestrator"
    topic_pipeline       = "${var.name}-topic-pipeline"
    historical_rebuilder = "${var.name}-historical-rebuilder"
    file_manifest        = "${var.name}-file-manifest"
  }

  states_arn_prefix = "arn:${var.partition}:states:${var.region}:${var.account_id}"
  glue_job_arn      = "arn:${var.partition}:glue:${var.region}:${var.account_id}:job"
  # Built from the names, not from the resources: the roles' policies need them before the state machines
  # exist (every machine waits for the policies, and the orchestrator's policy names itself).
  orchestrator_arn   = "${local.states_arn_prefix}:stateMachine:${local.machine_names.orchestrator}"
  topic_pipeline_arn = "${local.states_arn_prefix}:stateMachine:${local.machine_names.topic_pipeline}"

  orchestrator_definition_vars = {
    fetch_active_topics_lambda_arn   = var.fetch_active_topics_arn
    topic_pipeline_state_machine_arn = aws_sfn_state_machine.topic_pipeline.arn
  }

  topic_pipeline_definition_vars = {
    flow_step_lambda_arn  = var.flow_step_arn
    standardized_job_name = var.glue_job_names["standardized_processor"]
    curated_job_name      = var.glue_job_names["curated_processor"]
    semantic_job_name     = var.glue_job_names["semantic_processor"]
    maintenance_job_name  = var.glue_job_names["table_maintenance"]
    alerts_topic_arn      = var.alerts_topic_arn
  }

  historical_rebuilder_definition_vars = {
    flow_step_lambda_arn = var.flow_step_arn
    rebuilder_job_name   = var.glue_job_names["historical_rebuilder"]
    alerts_topic_arn     = var.alerts_topic_arn
  }

  file_manifest_definition_vars = {
    file_manifests_table_name = var.file_manifests_table_name
    file_processor_job_name   = var.glue_job_names["file_processor"]
    alerts_topic_arn          = var.alerts_topic_arn
  }

  # --- IAM statements -----------------------------------------------------------------------------------

  common_statements = concat(
    [{
      # Step Functions' log delivery (vended logs) actions have no resource-level permissions: AWS requires "*".
      Sid    = "LogDelivery"
      Effect = "Allow"
      Action = [
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
      ]
      Resource = ["*"]
    }],
    var.enable_tracing ? [{
      # X-Ray's trace and sampling actions have no resource-level permissions: AWS requires "*".
      Sid      = "XRayTraces"
      Effect   = "Allow"
      Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      Resource = ["*"]
    }] : [],
  )

  # The alerts topic is KMS-encrypted: publishing needs the key too.
  alert_statements = [
    {
      Sid      = "PublishAlerts"
      Effect   = "Allow"
      Action   = ["sns:Publish"]
      Resource = [var.alerts_topic_arn]
    },
    {
      Sid      = "ProjectKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource = [var.kms_key_arn]
    },
  ]

  glue_run_actions = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]

  flow_step_statement = {
    Sid      = "InvokeFlowStep"
    Effect   = "Allow"
    Action   = ["lambda:InvokeFunction"]
    Resource = [var.flow_step_arn, "${var.flow_step_arn}:*"]
  }

  orchestrator_statements = concat(
    [
      {
        Sid      = "InvokeFetchActiveTopics"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [var.fetch_active_topics_arn, "${var.fetch_active_topics_arn}:*"]
      },
      {
        # CheckPreviousRun: a scheduled run stands down while an earlier one is still running.
        Sid      = "ListOwnExecutions"
        Effect   = "Allow"
        Action   = ["states:ListExecutions"]
        Resource = [local.orchestrator_arn]
      },
      {
        Sid      = "StartTopicPipeline"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = [local.topic_pipeline_arn]
      },
      {
        Sid      = "WatchTopicPipelineExecutions"
        Effect   = "Allow"
        Action   = ["states:DescribeExecution", "states:StopExecution"]
        Resource = ["${local.states_arn_prefix}:execution:${local.machine_names.topic_pipeline}:*"]
      },
      {
        # startExecution.sync:2 waits for the child through this managed EventBridge rule.
        Sid      = "SyncExecutionEventsRule"
        Effect   = "Allow"
        Action   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
        Resource = ["arn:${var.partition}:events:${var.region}:${var.account_id}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"]
      },
    ],
    var.map_mode == "DISTRIBUTED" ? [
      {
        # A Distributed Map runs each iteration as a child execution of this same state machine.
        Sid      = "StartOwnChildExecutions"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = [local.orchestrator_arn]
      },
      {
        Sid    = "WatchOwnChildExecutions"
        Effect = "Allow"
        Action = ["states:DescribeExecution", "states:StopExecution"]
        Resource = [
          "${local.states_arn_prefix}:execution:${local.machine_names.orchestrator}:*",
          "${local.states_arn_prefix}:execution:${local.machine_names.orchestrator}/*",
        ]
      },
    ] : [],
  )

  topic_pipeline_statements = concat([
    local.flow_step_statement,
    {
      Sid    = "RunStageJobs"
      Effect = "Allow"
      Action = local.glue_run_actions
      Resource = [
        "${local.glue_job_arn}/${var.glue_job_names["standardized_processor"]}",
        "${local.glue_job_arn}/${var.glue_job_names["curated_processor"]}",
        "${local.glue_job_arn}/${var.glue_job_names["semantic_processor"]}",
        "${local.glue_job_arn}/${var.glue_job_names["table_maintenance"]}",
      ]
    },
  ], local.alert_statements)

  historical_rebuilder_statements = concat([
    local.flow_step_statement,
    {
      Sid      = "RunRebuilderJob"
      Effect   = "Allow"
      Action   = local.glue_run_actions
      Resource = ["${local.glue_job_arn}/${var.glue_job_names["historical_rebuilder"]}"]
    },
  ], local.alert_statements)

  file_manifest_statements = concat([
    {
      Sid      = "TrackManifests"
      Effect   = "Allow"
      Action   = ["dynamodb:UpdateItem", "dynamodb:GetItem"]
      Resource = [var.file_manifests_table_arn]
    },
    {
      Sid      = "RunFileProcessorJob"
      Effect   = "Allow"
      Action   = local.glue_run_actions
      Resource = ["${local.glue_job_arn}/${var.glue_job_names["file_processor"]}"]
    },
  ], local.alert_statements)

  role_statements = {
    orchestrator         = local.orchestrator_statements
    topic_pipeline       = local.topic_pipeline_statements
    historical_rebuilder = local.historical_rebuilder_statements
    file_manifest        = local.file_manifest_statements
  }
}

# --- logs and roles ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.machine_names

  # /aws/vendedlogs/: the prefix AWS recommends for vended logs (keeps the Logs resource policy small).
  name              = "/aws/vendedlogs/states/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_iam_role" "this" {
  for_each = local.machine_names

  name        = "${each.value}-sfn"
  description = "Runs the ${each.value} state machine"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "this" {
  for_each = local.machine_names

  name = "least-privilege"
  role = aws_iam_role.this[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.common_statements, local.role_statements[each.key])
  })
}

# --- state machines ---------------------------------------------------------------------------------------

resource "aws_sfn_state_machine" "topic_pipeline" {
  name       = local.machine_names.topic_pipeline
  role_arn   = aws_iam_role.this["topic_pipeline"].arn
  type       = "STANDARD"
  definition = templatefile("${path.module}/definitions/topic_pipeline.asl.json", local.topic_pipeline_definition_vars)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this["topic_pipeline"].arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = var.enable_tracing
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_sfn_state_machine" "orchestrator" {
  name     = local.machine_names.orchestrator
  role_arn = aws_iam_role.this["orchestrator"].arn
  type     = "STANDARD"
  definition = (var.map_mode == "DISTRIBUTED"
    ? templatefile("${path.module}/definitions/orchestrator_distributed.asl.json", local.orchestrator_definition_vars)
    : templatefile("${path.module}/definitions/orchestrator.asl.json", local.orchestrator_definition_vars)
  )

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this["orchestrator"].arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = var.enable_tracing
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_sfn_state_machine" "historical_rebuilder" {
  name       = local.machine_names.historical_rebuilder
  role_arn   = aws_iam_role.this["historical_rebuilder"].arn
  type       = "STANDARD"
  definition = templatefile("${path.module}/definitions/historical_rebuilder.asl.json", local.historical_rebuilder_definition_vars)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this["historical_rebuilder"].arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = var.enable_tracing
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_sfn_state_machine" "file_manifest" {
  name       = local.machine_names.file_manifest
  role_arn   = aws_iam_role.this["file_manifest"].arn
  type       = "STANDARD"
  definition = templatefile("${path.module}/definitions/file_manifest.asl.json", local.file_manifest_definition_vars)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this["file_manifest"].arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = var.enable_tracing
  }

  depends_on = [aws_iam_role_policy.this]
}

# --- the orchestrator's schedule (seed 000: every 15 minutes) -----------------------------------------------

resource "aws_cloudwatch_event_rule" "orchestrator" {
  name                = "${local.machine_names.orchestrator}-schedule"
  description         = "Starts the lean-ops orchestrator"
  schedule_expression = var.schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"
}

resource "aws_iam_role" "schedule" {
  name        = "${local.machine_names.orchestrator}-schedule"
  description = "EventBridge starts the orchestrator"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "schedule" {
  name = "start-orchestrator"
  role = aws_iam_role.schedule.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StartOrchestrator"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = [aws_sfn_state_machine.orchestrator.arn]
    }]
  })
}

resource "aws_cloudwatch_event_target" "orchestrator" {
  rule     = aws_cloudwatch_event_rule.orchestrator.name
  arn      = aws_sfn_state_machine.orchestrator.arn
  role_arn = aws_iam_role.schedule.arn
  input    = jsonencode({ max_concurrency = var.max_concurrency })
}
