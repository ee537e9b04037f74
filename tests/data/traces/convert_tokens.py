"""Converts the Azure LLM 2023 conversation trace and the Mooncake conversation trace, one row per
request with its token counts, into ``timestamp,requests,prompt_tokens,generation_tokens`` traces.

Requests are bucketed exactly as the request-only traces beside them were (Azure: the timestamp
truncated to the second; Mooncake: its native 3 s buckets), and each bucket's prompt and
generated tokens are summed. Standard library only; deterministic.

    python3 tests/data/traces/convert_tokens.py ORIGINALS_DIR

where ``ORIGINALS_DIR`` holds ``azure_llm_2023/AzureLLMInferenceTrace_conv.csv`` and
``mooncake/conversation_trace.jsonl.gz``.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = "timestamp,requests,prompt_tokens,generation_tokens\n"
MOONCAKE_STEP_MS = 3000
MOONCAKE_TOLERANCE_MS = 100


def _write(name: str, rows: list[tuple[str, int, int, int]]) -> None:
    with (HERE / f"{name}.csv").open("w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        file.writelines(f"{when},{requests},{prompt},{generated}\n" for when, requests, prompt, generated in rows)


def azure_conv(originals: Path) -> None:
    """One row per second from the first request's second to the last's; 0 where none arrived."""
    requests = []
    with (originals / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv").open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            second = datetime.strptime(row["TIMESTAMP"].strip()[:19], "%Y-%m-%d %H:%M:%S")
            requests.append((second, int(row["ContextTokens"]), int(row["GeneratedTokens"])))
    start = min(second for second, _, _ in requests)
    buckets = [[0, 0, 0] for _ in range(int((max(second for second, _, _ in requests) - start).total_seconds()) + 1)]
    for second, prompt, generated in requests:
        bucket = buckets[int((second - start).total_seconds())]
        bucket[0], bucket[1], bucket[2] = bucket[0] + 1, bucket[1] + prompt, bucket[2] + generated
    _write("azure_llm_2023_conv_tokens_1s", [
        ((start + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%S"), *bucket) for index, bucket in enumerate(buckets)
    ])


def mooncake_conversation(originals: Path) -> None:
    """Bucket k = round(timestamp_ms / 3000), written as 3k seconds since the trace's start."""
    buckets: dict[int, list[int]] = {}
    with gzip.open(originals / "mooncake" / "conversation_trace.jsonl.gz", "rt", encoding="utf-8") as file:
        for line in filter(str.strip, file):
            request = json.loads(line)
            index = round(request["timestamp"] / MOONCAKE_STEP_MS)
            if abs(request["timestamp"] - MOONCAKE_STEP_MS * index) > MOONCAKE_TOLERANCE_MS:
                raise ValueError(f"unexpected Mooncake timestamp {request['timestamp']!r}")
            bucket = buckets.setdefault(index, [0, 0, 0])
            bucket[0] += 1
            bucket[1] += request["input_length"]
            bucket[2] += request["output_length"]
    _write("mooncake_conversation_tokens_3s", [
        (str(3 * index), *buckets.get(index, [0, 0, 0])) for index in range(max(buckets) + 1)
    ])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    azure_conv(Path(sys.argv[1]))
    mooncake_conversation(Path(sys.argv[1]))
