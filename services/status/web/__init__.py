"""The dashboard: HTML pages, a JSON API (OpenAPI at ``/api/openapi.json``) and live events."""
