"""The engine for GPUs: transformers' continuous batching (``ContinuousBatchingManager``, paged
attention), where requests join and leave the running batch at every decoding step, so a short request
never waits for a long one and a new one starts at once.

It offers what ``GenerationEngine`` offers (``encode``, ``decode``, ``submit``, ``stop``), so the API
and the model switch do not know which one runs. Sampling settings are per request (the manager's
per-request temperature and top-p processors); a greedy request samples at a temperature so low that
it takes the most likely token (exact ties aside). On 2 CPU cores one padded ``generate`` call was
about twice as fast (``benchmarks/serving.py``), which is why ``batching: auto`` picks this engine on
CUDA only.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import torch

from services.server.adapters.engine import EngineHooks, Job, special_tokens

log = logging.getLogger(__name__)

BLOCK_SIZE = 256  # tokens per block of the paged KV cache
GREEDY_TEMPERATURE = 1e-5  # divides the logits: the top token takes all the probability mass


def cache_blocks(max_batch: int, max_context: int) -> int:
    """Blocks for ``max_batch`` requests of the longest context allowed, and no more. The manager would
    otherwise size its cache from the free memory, and two models live side by side during a switch."""
    return max_batch * -(-max_context // BLOCK_SIZE)


class ContinuousEngine:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: torch.device,
        max_new_tokens: int,
        max_batch: int,
        max_prompt_tokens: int,
        hooks: EngineHooks | None = None,
    ) -> None:
        from transformers import ContinuousBatchingConfig, GenerationConfig

        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.hooks = hooks or EngineHooks()
        self.eos_ids, pad = special_tokens(model, tokenizer)
        # Temperature and top-p away from 1, so that their per-request processors exist; each request
        # then sets its own values.
        config = GenerationConfig(
            do_sample=True, temperature=0.5, top_p=0.5, top_k=0, max_new_tokens=max_new_tokens,
            eos_token_id=sorted(self.eos_ids), pad_token_id=pad,
        )  # fmt: skip
        self.manager = model.init_continuous_batching(
            generation_config=config,
            continuous_batching_config=ContinuousBatchingConfig(
                per_request_processors=True,
                max_requests_per_batch=max_batch,
                block_size=BLOCK_SIZE,
                num_blocks=cache_blocks(max_batch, max_prompt_tokens + max_new_tokens),
            ),
        )
        self.manager.start()
        self._jobs: dict[str, tuple[Job, list[int]]] = {}  # request id -> (job, token count seen)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reader = threading.Thread(target=self._read, name="continuous-results", daemon=True)
        self._reader.start()

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def submit(self, job: Job) -> None:
        if self._stopping.is_set():
            raise RuntimeError("the engine is stopped")
        request_id = uuid.uuid4().hex
        with self._lock:
            self._jobs[request_id] = (job, [0])
            self.hooks.queue_depth(len(self._jobs))
        sampling = job.sampling
        accepted = self.manager.add_request(
            job.prompt_ids,
            request_id=request_id,
            max_new_tokens=sampling.max_new_tokens,
            streaming=True,
            temperature=GREEDY_TEMPERATURE if sampling.greedy else sampling.temperature,
            top_p=1.0 if sampling.greedy else sampling.top_p,
        )
        if accepted is None:
            with self._lock:
                self._jobs.pop(request_id, None)
            job.finish("error", error="the continuous batching engine refused the request")

    def _read(self) -> None:
        while not self._stopping.is_set():
            output = self.manager.get_result(timeout=0.1)
            if output is not None:
                self._dispatch(output)
            elif not self.manager.is_running():  # its generation thread died: nothing more will come
                self._fail_all("the continuous batching engine stopped")
                self._stopping.wait(1.0)

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job, _ in jobs:
            job.finish("error", error=reason)
        if jobs:
            log.error(reason, extra={"failed_requests": len(jobs)})

    def _dispatch(self, output: Any) -> None:
        with self._lock:
            entry = self._jobs.get(output.request_id)
        if entry is None:
            return
        job, seen = entry
        for token in output.generated_tokens[seen[0] :]:
            job.deliver(int(token), self.eos_ids)
        seen[0] = len(output.generated_tokens)
        finished = output.is_finished()
        if finished:
            if output.error:
                job.finish("error", error=f"generation failed: {output.error}")
            job.finish("length")  # a no-op when end of sequence or a stop string finished it first
        elif job.done:  # a stop string, its own limit or a client that left: free its place now
            self.manager.cancel_request(output.request_id)
        if finished or job.done:
            with self._lock:
                self._jobs.pop(output.request_id, None)
                self.hooks.queue_depth(len(self._jobs))

    def stop(self) -> None:
        self._stopping.set()
        self._reader.join(timeout=30)
        self.manager.stop(block=True, timeout=60)
        self._fail_all("the model was unloaded")
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
