"""One loaded model and the thread that generates with it.

Requests wait in a queue for at most ``batch_wait_s``; the oldest one and those that sample the same
way then go through one padded ``model.generate`` call (transformers' own decoding loop, left padding,
KV cache). On 2 CPU cores this beat transformers' continuous-batching engine (``generate_batch``,
paged attention) by about 3x on SmolLM2-135M, so it is what the server uses on CPU.

A stopping criterion sees every new token of every row: it hands the token to its request (which
streams text to the client) and tells ``generate`` which rows are finished (end of sequence, their own
``max_tokens``, a stop string, a client that went away); the call ends when every row is.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from services.server.core.batching import Batching, take_batch
from services.server.core.limits import Sampling
from services.server.core.text import TextAssembler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    reason: str  # stop | length | cancelled | error
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None


Piece = Delta | Finished


@dataclass(eq=False)
class Job:
    """One request in the engine: its prompt, how it samples, and where its text goes (an asyncio
    queue of the request's event loop, fed from the engine thread)."""

    prompt_ids: list[int]
    sampling: Sampling
    assembler: TextAssembler
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue[Piece]
    submitted_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    cancelled: bool = False  # set by the request when its client went away
    done: bool = False

    @property
    def group(self) -> tuple[float, float]:
        return self.sampling.group

    def deliver(self, token_id: int, eos_ids: frozenset[int]) -> None:
        if self.done:
            return
        if self.cancelled:
            self.finish("cancelled")
            return
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        if token_id in eos_ids:
            self.finish("stop")
            return
        text = self.assembler.push(token_id)
        if text:
            self._emit(Delta(text))
        if self.assembler.stopped:
            self.finish("stop")
        elif self.assembler.tokens >= self.sampling.max_new_tokens:
            self.finish("length")

    def finish(self, reason: str, error: str | None = None) -> None:
        if self.done:
            return
        self.done = True
        rest = self.assembler.finish() if reason in ("stop", "length") else ""
        if rest:
            self._emit(Delta(rest))
        self._emit(Finished(reason, len(self.prompt_ids), self.assembler.tokens, error))

    def _emit(self, piece: Piece) -> None:
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, piece)
        except RuntimeError:  # the request's event loop is closed: nobody is listening any more
            self.cancelled = True


class _Dispatch(StoppingCriteria):  # type: ignore[misc]  # transformers is untyped here
    """Hands each row's newest token to its job; a row is finished once its job is done."""

    def __init__(self, jobs: Sequence[Job], eos_ids: frozenset[int]) -> None:
        self.jobs = jobs
        self.eos_ids = eos_ids

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        newest = input_ids[:, -1].tolist()
        for job, token in zip(self.jobs, newest, strict=True):
            job.deliver(int(token), self.eos_ids)
        done = torch.tensor([job.done for job in self.jobs], dtype=torch.bool, device=input_ids.device)
        return done


class Engine(Protocol):
    """What the API and the model switch use of an engine: this module's padded-batch engine, or the
    continuous-batching one (``adapters/continuous.py``)."""

    tokenizer: Any

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def submit(self, job: Job) -> None: ...

    def stop(self) -> None: ...


def special_tokens(model: Any, tokenizer: Any) -> tuple[frozenset[int], int]:
    """(every token that ends a sequence, the padding token): the model's generation config may name
    end-of-turn tokens the tokenizer's ``eos_token`` does not, so both count."""
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(int(tokenizer.eos_token_id))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return frozenset(eos_ids), int(pad if pad is not None else 0)


@dataclass(frozen=True)
class EngineHooks:
    """Where the engine reports what it does (the server's metrics); no-ops by default."""

    queue_depth: Callable[[int], None] = lambda depth: None
    batch: Callable[[int], None] = lambda size: None


class GenerationEngine:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: torch.device,
        max_batch: int = 16,
        batch_wait_s: float = 0.005,
        hooks: EngineHooks | None = None,
        name: str = "engine",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self.hooks = hooks or EngineHooks()
        self.eos_ids, self.pad_id = special_tokens(model, tokenizer)
        self._waiting: list[Job] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"generate-{name}", daemon=True)
        self._thread.start()

    # -- the request side --------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping:
                raise RuntimeError("the engine is stopped")
            self._waiting.append(job)
            self.hooks.queue_depth(len(self._waiting))
            self._cond.notify()

    def stop(self) -> None:
        """Finish what is queued, then end the thread and drop the weights."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- the engine thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if not self._waiting:
                    return  # stopping, and nothing left
                deadline = time.monotonic() + self.batch_wait_s
                while len(self._waiting) < self.max_batch and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._waiting = take_batch(self._waiting, self.max_batch)
                self.hooks.queue_depth(len(self._waiting))
            batch = [job for job in batch if not self._dropped(job)]
            if batch:
                self._generate(batch)

    @staticmethod
    def _dropped(job: Job) -> bool:
        if job.cancelled:
            job.finish("cancelled")
        return job.cancelled

    def _generate(self, batch: list[Job]) -> None:
        self.hooks.batch(len(batch))
        width = max(len(job.prompt_ids) for job in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, job in enumerate(batch):  # left padding: every prompt ends where generation starts
            ids[row, width - len(job.prompt_ids) :] = torch.tensor(job.prompt_ids, dtype=torch.long)
            mask[row, width - len(job.prompt_ids) :] = 1
        sampling = batch[0].sampling
        options: dict[str, Any] = {"do_sample": False}
        if not sampling.greedy:
            options = {
                "do_sample": True,
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "top_k": 0,
            }
        try:
            with torch.inference_mode():
                self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    max_new_tokens=max(job.sampling.max_new_tokens for job in batch),
                    stopping_criteria=StoppingCriteriaList([_Dispatch(batch, self.eos_ids)]),
                    pad_token_id=self.pad_id,
                    **options,
                )
        except Exception as exc:  # one bad batch fails its requests, not the server
            log.exception("generation failed", extra={"batch": len(batch)})
            for job in batch:
                job.finish("error", error=f"generation failed: {type(exc).__name__}")
            return
        for job in batch:  # generate ran out of new tokens for a row its criterion had not finished
            job.finish("length")


def load_engine(
    folder: str,
    device: str,
    dtype: str,
    max_batch: int,
    batch_wait_s: float,
    hooks: EngineHooks,
    name: str,
    batching: Batching = "auto",
    max_new_tokens: int = 512,
    max_prompt_tokens: int = 2048,
) -> Engine:
    """A model folder (weights, config, tokenizer) in eval mode on ``device`` (auto: CUDA when there is
    one); the padded engine is warmed up by one short generation so the first request does not pay for
    it. ``batching``
    auto: continuous batching on CUDA, one padded ``generate`` per batch on CPU (measured faster there)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    target = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    continuous = batching == "continuous" or (batching == "auto" and target.type == "cuda")
    # Continuous batching attends over a paged KV cache: the model needs the paged attention kernels.
    attention = {"attn_implementation": "paged|sdpa"} if continuous else {}
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtypes[dtype], **attention)
    model.to(target)
    model.eval()
    prompt = tokenizer("Hello", add_special_tokens=False)["input_ids"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if continuous:
        from services.server.adapters.continuous import ContinuousEngine

        return ContinuousEngine(model, tokenizer, target, max_new_tokens, max_batch, max_prompt_tokens, hooks)
    with torch.inference_mode():
        model.generate(
            input_ids=torch.tensor([prompt], device=target),
            attention_mask=torch.ones((1, len(prompt)), dtype=torch.long, device=target),
            max_new_tokens=2,
            do_sample=False,
            pad_token_id=pad,
        )
    return GenerationEngine(model, tokenizer, target, max_batch, batch_wait_s, hooks, name)
