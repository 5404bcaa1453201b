"""`AsyncRLEMCallbackHandler`: `RLEMCallbackHandler` learning on the memory's async API."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_rememberer.adapters.callbacks import RLEMCallbackHandler, succeeded_of

__all__ = ["AsyncRLEMCallbackHandler"]


class AsyncRLEMCallbackHandler(RLEMCallbackHandler):
    """`RLEMCallbackHandler` for `ainvoke` / `astream`: learns on the memory's async API.

    Same arguments, reports and feedback as `RLEMCallbackHandler`. When a root run ends, the
    episode is scored (the scorer's `ascore` when it has one, e.g. `LLMJudgeScorer` awaits its
    model) and learned with `alearn` on the event loop: on a Chroma server that is Chroma's
    `AsyncHttpClient`; an embedded memory runs it in a worker thread (Chroma has no async
    embedded client). Its other events only update in-memory bookkeeping, so they run inline
    on the loop, not in executor threads. For `invoke` use `RLEMCallbackHandler`.

    Example:
        ```python
        import asyncio
        import uuid

        from langchain_core.runnables import RunnableLambda

        from langchain_rememberer import AsyncRLEMCallbackHandler, RemembererMemory

        memory = RemembererMemory(path=None)
        handler = AsyncRLEMCallbackHandler(memory, scorer=lambda episode: 1.0)
        chain = RunnableLambda(lambda question: "42")


        async def ask(question: str) -> str:
            run_id = str(uuid.uuid4())
            await chain.ainvoke(question, config={"callbacks": [handler], "run_id": run_id})
            return run_id


        async def main() -> list[str]:
            return await asyncio.gather(*(ask(f"What is 6*{n}?") for n in range(4)))


        run_ids = asyncio.run(main())
        assert all(handler.report(run_id).updates_written == 1 for run_id in run_ids)
        ```
    """

    run_inline = True

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:  # type: ignore[override]  # noqa: ARG002
        """Finish the episode when the root run ends, on the memory's async API."""
        self._record_output(outputs, run_id)
        await self._afinish(run_id, succeeded=True)

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:  # type: ignore[override]  # noqa: ARG002
        """A root run that raised is a failed episode, learned on the memory's async API."""
        if not self._interrupted(run_id, error):
            await self._afinish(run_id, succeeded=succeeded_of(error))
