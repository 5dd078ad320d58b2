"""The HTTP door: REST API, health, metrics and the OpenAPI document."""
