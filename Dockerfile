# One image for web, worker, beat and trainer; the command differs per service (docker-compose.yml).
# Stage 1 builds the browser app into orchestra/webapp and the wheel that carries it; stage 2
# installs only that wheel, so the image runs exactly what `pip install orchestra-*.whl` gives
# (tests/test_packaging.py installs the same wheel outside the checkout and starts it).
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cd frontend && npm ci --no-audit --no-fund && npm run build
RUN pip wheel --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ORCHESTRA_DATA_DIR=/data
# torch first and pinned, as in the Makefile: a looser spec would pull a CUDA build.
RUN pip install torch==2.13.0
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
WORKDIR /data
VOLUME /data
EXPOSE 8000
CMD ["sh", "-c", "orchestra manage migrate --noinput && daphne -b 0.0.0.0 -p 8000 orchestra.asgi:application"]
