"""The evaluation harness: model loading, data, suites and the runner.

Importable without the service dependencies (Celery, Streamlit): the runner imports ``db``
lazily, so GPU benchmark machines need only torch, transformers and this code.
"""
