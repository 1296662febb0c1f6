"""The AWS runtime's entrypoints: Lambda handlers, pre-RAW accounting and artifact packaging.

boto3 is imported only inside the functions that call AWS, so the core package never needs it.
"""
