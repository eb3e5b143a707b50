"""What ``partnersync api`` hands uvicorn: the application built from the settings (in each
server process, so ``--workers`` processes each have their own store pool)."""

from __future__ import annotations

from fastapi import FastAPI

from sync.api.app import create_app

__all__ = ["app"]


def app() -> FastAPI:
    from sync.cli.common import load

    return create_app(load(default_level="info"))
