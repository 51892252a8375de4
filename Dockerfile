# One image for every SkipBench service: GPU workers, the migration, the leaderboard.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

# torch first (its Linux x86-64 wheel carries the CUDA runtime the GPU workers use)
RUN pip install "torch>=2.11,<2.14"

COPY pyproject.toml README.md alembic.ini ./
COPY skipbench ./skipbench
COPY cli ./cli
COPY harness ./harness
COPY methods ./methods
COPY db ./db
COPY workers ./workers
COPY leaderboard ./leaderboard
RUN pip install .
# what `skipbench leaderboard --demo` serves (the installed package has no source tree beside it)
COPY results ./results
ENV SKIPBENCH_RESULTS_DIR=/app/results

# Celery refuses to be comfortable as root; the data folders belong to this user
RUN useradd --create-home skipbench && mkdir -p /data/skipbench /shared \
    && chown -R skipbench /data/skipbench
USER skipbench
ENV SKIPBENCH_HOME=/data/skipbench
