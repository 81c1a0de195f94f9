# schoolbot on one machine: SQLite in the /data volume, long polling (or a webhook when WEBHOOK_URL is set).
FROM python:3.11-slim

# A CJK font so charts can label districts in Chinese.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei fontconfig \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 schoolbot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY scheduler ./scheduler
RUN pip install --no-cache-dir .

USER schoolbot
WORKDIR /data
VOLUME ["/data"]
ENV DATABASE_URL=sqlite+aiosqlite:////data/schoolbot.db \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONUNBUFFERED=1
CMD ["schoolbot", "run"]
