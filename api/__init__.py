"""The FastAPI service: booking lifecycle, dispatch runs, registry operations, audit. Built under issue 4."""
