# Rahnuma's images. The default target is the Rasa image: the assistant and the
# action server from one build (run with different commands). Python 3.10:
# Rasa 3.6 supports 3.8-3.10 only. The gateway has its own image and
# environment (target `gateway`), so Rasa's old pins never hold it back.
#
#   docker build -t rahnuma-rasa .
#   docker build -t rahnuma-gateway --target gateway .
#   docker run rahnuma-rasa                                          # Rasa on :5005 (REST channel)
#   docker run -e ACTION_HOST=0.0.0.0 rahnuma-rasa python -m actions.server  # actions + NLG on :5055
#   docker run --env-file .env rahnuma-gateway                      # gateway on :8080
#   docker run --env-file .env rahnuma-gateway python -m bot.hotline  # hotline relay
#
# Code shared by both images is the `contract` package, copied whole into each
# (never a list of files): `make images` assembles what each target's COPY
# lines copy and imports its entry points there, without a Docker daemon.
# docker-compose.yml runs them together with Redis (docs/operations.md).

FROM python:3.11-slim AS gateway
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PYTHONPATH=/app \
    GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8080
WORKDIR /app
# Runtime packages only (no test or lint tools), exactly as locked, hashes checked.
COPY requirements/bot.lock requirements/
RUN pip install --require-hashes --no-deps -r requirements/bot.lock
COPY contract/ contract/
COPY bot/ bot/
COPY locales/ locales/
COPY content/ content/
RUN python -m babel.messages.frontend compile -d locales \
 && useradd --create-home --uid 10001 rahnuma
USER 10001
EXPOSE 8080
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"]
CMD ["python", "-m", "bot"]

FROM python:3.10-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH=/app
WORKDIR /app
COPY requirements/rasa.lock requirements/
RUN pip install --require-hashes --no-deps -r requirements/rasa.lock

COPY config.yml domain.yml endpoints.yml endpoints.redis.yml credentials.yml ./
COPY nlu/ nlu/
COPY actions/ actions/
# The action server stores reports with contract/reports.py (redis and cryptography only).
COPY contract/ contract/
COPY dialogue/ dialogue/
COPY content/ content/
COPY locales/ locales/
RUN python -m babel.messages.frontend compile -d locales --statistics

FROM base AS trained
RUN rasa train --data nlu/data --domain domain.yml --config config.yml \
      --out models --fixed-model-name rahnuma --augmentation 0

FROM base
COPY --from=trained /app/models/rahnuma.tar.gz models/rahnuma.tar.gz
RUN useradd --create-home --uid 10001 rahnuma && chown -R rahnuma /app
USER 10001
EXPOSE 5005 5055
CMD ["rasa", "run", "--model", "models/rahnuma.tar.gz", "--endpoints", "endpoints.redis.yml", \
     "--credentials", "credentials.yml", "--port", "5005"]
