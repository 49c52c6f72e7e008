FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY worker ./worker
COPY alembic ./alembic
COPY alembic.ini ./
RUN pip install --editable . && useradd --create-home --uid 10001 wirewatch

COPY watchlists ./watchlists
COPY seeds ./seeds
USER wirewatch
ENTRYPOINT []
CMD ["wirewatch", "run"]
