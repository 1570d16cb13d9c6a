"""The STOA webhook receiver: GitLab webhooks and Kafka events in, AWX job launches out.

It will accept GitLab push/tag/merge-request hooks (token-checked) and the
platform's Kafka topics, deduplicate them, and launch the matching AWX job
template (or a local ansible-runner run), committing a Kafka offset only once
the launch is recorded, so that nothing is lost.
"""
