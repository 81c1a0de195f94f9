"""The report conversation: its flow, screens, callback data, service and self-service."""
