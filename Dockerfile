# One image for web, worker, beat and trainer; the command differs per service (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ORCHESTRA_DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# torch first and pinned, as in the Makefile.
RUN pip install torch==2.13.0
COPY pyproject.toml ./
COPY orchestra orchestra
COPY workflows workflows
COPY manage.py ./
RUN pip install .
COPY frontend frontend
RUN cd frontend && npm ci --no-audit --no-fund && npm run build && rm -rf node_modules
VOLUME /data
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "orchestra.asgi:application"]
