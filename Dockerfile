# One `coordinator serve` replica. Stateless: every shared record lives in the database named
# by COORDINATOR_DATABASE_URL, so any number of these can run behind a load balancer.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY coordinator coordinator
COPY agents agents
COPY tools tools
COPY adk_web adk_web
RUN pip install --no-cache-dir ".[postgres]" \
 && useradd --system --home-dir /var/lib/coordinator --create-home coordinator

USER coordinator
ENV COORDINATOR_MODE=offline \
    COORDINATOR_DATA_DIR=/var/lib/coordinator \
    PYTHONUNBUFFERED=1
EXPOSE 8080
# Cloud Run sets PORT; compose uses the default 8080.
CMD ["sh", "-c", "exec coordinator serve --host 0.0.0.0 --port ${PORT:-8080}"]
