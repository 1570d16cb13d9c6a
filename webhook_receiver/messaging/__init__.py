"""Kafka: the outbox publisher (audit-log, deploy-results, notifications) and, in part 2, the deploy-requests consumer."""
