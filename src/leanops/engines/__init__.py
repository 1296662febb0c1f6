"""Compute engines that implement the stage semantics (design section 4) on other runtimes.

The embedded engine lives in `leanops.stages`; `leanops.engines.spark` runs on PySpark 3.5.
Engines are optional: importing this package needs nothing beyond the base install.
"""
