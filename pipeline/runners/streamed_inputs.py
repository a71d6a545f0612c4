"""How the runner hands a stage's input to an SDK worker process: in chunks, while it runs.

Beam's FnApiRunner (``BundleManager.process_bundle``) writes a bundle's whole input to the data
channel before it asks the worker to start, and a grouped input (what a ``GroupByKey`` hands the
next stage) goes as one message per worker: ``GroupingBuffer.partition`` encodes each worker's
share into one ``bytes``. Out of process, that one message (about 60 MB per worker at 600 MB of
WET) is copied whole at every hop of the data plane into fresh memory, and the worker idles
until its last byte has arrived; with two workers both idle while the runner does it, between
every two stages (docs/benchmarks.md, "Two workers").

Two changes, in how the bytes move, never in what a stage receives (the same elements in the
same order, so outputs are byte-identical):

- ``ChunkedGroupingBuffer`` cuts each worker's share of a group into chunks of at most
  ``CHUNK_BYTES``, at element boundaries (``chunk_grouped_inputs`` applies it to a bundle's
  inputs);
- ``StreamingDataChannel`` is the runner's end of a worker process's data channel: an input
  written to it is sent by a sender thread, one message per chunk, so ``process_bundle`` asks the
  worker to start at once and the worker decodes the first chunk while the rest is on its way.
  Should a send fail, the bundle fails: ``input_elements`` raises.

Only workers in their own process get the channel (``pipeline.runners.forked_workers``); an
in-process worker runs its bundle inside the runner's request, so it must have all of its input
first.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.execution.GroupingBuffer``, subclassed: its
  ``partition`` overridden with its ``_grouped_output``, ``_windowing``, ``_post_grouped_coder``,
  ``_key_coder`` and ``_table``; the runner's instances (made in
  ``apache_beam.runners.portability.fn_api_runner.execution.BundleContextManager.get_buffer``)
  get our class by ``__class__`` assignment;
- ``apache_beam.coders.coder_impl.create_OutputStream``: the stream Beam's partition encodes
  into;
- ``apache_beam.utils.windowed_value.PaneInfo`` and
  ``apache_beam.utils.windowed_value.PaneInfoTiming``: the on-time pane Beam's partition wraps
  each group in;
- ``apache_beam.runners.worker.data_plane.DataChannel``'s ``output_stream``,
  ``input_elements`` and ``close``, which ``StreamingDataChannel`` wraps: it relies on
  ``apache_beam.runners.portability.fn_api_runner.fn_runner.BundleManager.process_bundle``
  writing a bundle's inputs through ``output_stream`` before it sends the bundle's request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from apache_beam.coders.coder_impl import create_OutputStream
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils import windowed_value

_LOG = logging.getLogger(__name__)

# A chunk is cut once it reaches this size: large enough that per-message costs vanish, small
# enough that a worker starts at once and no hop copies tens of MB into fresh memory.
CHUNK_BYTES = 4 << 20


def _on_time_in_global_window() -> windowed_value.WindowedValue:
    """What Beam's ``GroupingBuffer.partition`` wraps each group in for the global window (its
    ``with_value`` gives the group's)."""
    pane = windowed_value.PaneInfo(
        is_first=True,
        is_last=True,
        timing=windowed_value.PaneInfoTiming.ON_TIME,
        index=0,
        nonspeculative_index=0,
    )
    return GlobalWindows.windowed_value(
        None, timestamp=GlobalWindow().max_timestamp(), pane_info=pane
    )


class ChunkedGroupingBuffer(execution.GroupingBuffer):
    """Beam's ``GroupingBuffer`` whose partitions are lists of chunks of at most about
    ``CHUNK_BYTES`` (a group larger than that is one chunk), with Beam's elements and order."""

    def partition(self, n: int) -> list[list[bytes]]:
        if self._grouped_output or not self._windowing.is_default():
            return super().partition(n)
        coder_impl = self._post_grouped_coder.get_impl()
        key_coder_impl = self._key_coder.get_impl()
        on_time = _on_time_in_global_window()
        parts: list[list[bytes]] = [[] for _ in range(n)]
        streams = [create_OutputStream() for _ in range(n)]
        # Groups go round-robin in table order, as Beam's partition deals them.
        for index, (encoded_key, values) in enumerate(self._table.items()):
            part = index % n
            group = on_time.with_value((key_coder_impl.decode(encoded_key), values))
            coder_impl.encode_to_stream(group, streams[part], True)
            if streams[part].size() >= CHUNK_BYTES:
                parts[part].append(streams[part].get())
                streams[part] = create_OutputStream()
        for part, stream in enumerate(streams):
            if stream.size():
                parts[part].append(stream.get())
        self._grouped_output = parts
        self._table.clear()
        return parts


def chunk_grouped_inputs(buffers: Iterable[object]) -> None:
    """Make every Beam ``GroupingBuffer`` among a bundle's input ``buffers`` partition in chunks.

    The runner builds its buffers inside ``BundleContextManager.get_buffer``, with no hook for
    the class; a buffer not yet partitioned is switched to the subclass here, which adds
    behaviour only (no state of its own).
    """
    for buffer in buffers:
        if type(buffer) is execution.GroupingBuffer:
            buffer.__class__ = ChunkedGroupingBuffer


class _QueuedInput:
    """What ``output_stream`` hands the runner: keeps the chunks written, queues them on close."""

    def __init__(self, on_close: Callable[[list[bytes]], None]) -> None:
        self._chunks: list[bytes] = []
        self._on_close = on_close

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def close(self) -> None:
        self._on_close(self._chunks)


class StreamingDataChannel:
    """The runner's end of a worker process's data channel, whose inputs a thread sends, one
    message per chunk; everything else is the wrapped Beam channel's."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._jobs: queue.SimpleQueue[tuple[str, str, list[bytes]] | None] = queue.SimpleQueue()
        self._failure: BaseException | None = None
        self._sender = threading.Thread(target=self._send_all, name="send_inputs", daemon=True)
        self._sender.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def output_stream(self, instruction_id: str, transform_id: str) -> _QueuedInput:
        self._raise_if_failed()
        return _QueuedInput(lambda chunks: self._jobs.put((instruction_id, transform_id, chunks)))

    def input_elements(
        self,
        instruction_id: str,
        expected_inputs: Collection[Any],
        abort_callback: Callable[[], bool] | None = None,
    ) -> Iterator[Any]:
        def abort() -> bool:
            return self._failure is not None or bool(abort_callback and abort_callback())

        yield from self._channel.input_elements(instruction_id, expected_inputs, abort)
        self._raise_if_failed()

    def close(self) -> None:
        self._jobs.put(None)
        self._sender.join()
        self._channel.close()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise RuntimeError("A bundle's input could not be sent to its worker") from (
                self._failure
            )

    def _send_all(self) -> None:
        while (job := self._jobs.get()) is not None:
            instruction_id, transform_id, chunks = job
            try:
                stream = self._channel.output_stream(instruction_id, transform_id)
                for chunk in chunks:
                    stream.write(chunk)
                    stream.flush()
                stream.close()
            except Exception as error:  # the bundle waiting for this input fails with it
                _LOG.exception("Sending the input of %s failed", instruction_id)
                self._failure = error
