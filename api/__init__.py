"""The HTTP API (FastAPI): thin routes over `fleet` and `dispatch`, with roles, agency scope and JSON errors."""
