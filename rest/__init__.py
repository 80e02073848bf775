"""The HTTP face of the service: REST resources, error envelope, OpenAPI, and the app factory."""

from .app import create_app

__all__ = ["create_app"]
