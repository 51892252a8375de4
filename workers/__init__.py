"""The service: Celery workers that run queued jobs; PostgreSQL (``db.jobs``) is the truth.

Import nothing heavy here: the CLI imports ``workers.service`` to submit, and Celery worker
parents must not initialise CUDA (each job runs in a fresh child process).
"""
