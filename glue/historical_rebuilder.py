"""AWS Glue job `historical_rebuilder`: replay a topic's RAW history into new Standardized/Curated
tables on the Spark engine of lean-ops (the topic is PAUSED meanwhile; leanops.schema.rebuild).

Job arguments: --topic_name (required), --home / --schemas (local deployment), --max_batch_rows.
Glue 5.0 settings and the local spark-submit command: docs/spark.md.
"""
from leanops.engines.spark.jobs import main

if __name__ == "__main__":
    main("historical_rebuilder")
