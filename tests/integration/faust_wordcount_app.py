"""A small Faust app run as a real worker by test_faust_roundtrip.py.

It reads JSON events, keeps a per-key count in a changelog-backed table, and writes the
upper-cased text with the running count to the output topic. Configured from the environment.
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    os.environ["FAUST_APP_ID"],
    broker=f"kafka://{os.environ['FAUST_BROKER']}",
    store="memory://",
    datadir=os.environ["FAUST_DATADIR"],
    processing_guarantee="at_least_once",
    topic_partitions=1,
    web_enabled=False,
    web_port=int(os.environ["FAUST_WEB_PORT"]),  # Faust binds it even with the web server disabled
)


class Greeting(faust.Record, serializer="json"):
    text: str


source = app.topic(os.environ["FAUST_INPUT"], key_type=str, value_type=Greeting)
sink = app.topic(os.environ["FAUST_OUTPUT"], key_type=str, value_serializer="json")
counts = app.Table("counts", default=int, partitions=1)


@app.agent(source, concurrency=1)
async def shout(stream: faust.StreamT[Greeting]) -> None:
    async for key, greeting in stream.items():
        counts[key] += 1
        await sink.send(key=key, value={"text": greeting.text.upper(), "seen": counts[key]})


if __name__ == "__main__":
    app.main()
