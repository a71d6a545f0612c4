"""pipeline/runners/streamed_inputs.py: grouped inputs cut in chunks with Beam's elements and
order, and sent to a worker one message per chunk, failing the bundle when a send fails.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.runners.portability.fn_api_runner.execution.GroupingBuffer`` and
  ``apache_beam.runners.portability.fn_api_runner.execution.ListBuffer``: Beam's buffers, built
  directly, with ``apache_beam.transforms.core.Windowing``;
- ``apache_beam.runners.worker.data_plane.InMemoryDataChannel`` and
  ``apache_beam.portability.api.beam_fn_api_pb2`` (``Elements``): a data channel to send through;
- ``apache_beam.coders.coders``: the coders Beam's buffers are built with.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pytest
from apache_beam.coders import coders
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.runners.worker import data_plane
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, window

from pipeline.runners import streamed_inputs
from pipeline.runners.direct import C4DirectRunner
from pipeline.runners.streamed_inputs import (
    ChunkedGroupingBuffer,
    StreamingDataChannel,
    chunk_grouped_inputs,
)
from tests.conftest import TWO_WORKERS

_KV = coders.TupleCoder([coders.BytesCoder(), coders.BytesCoder()])
_GROUPED = coders.TupleCoder([coders.BytesCoder(), coders.IterableCoder(coders.BytesCoder())])


def _buffer(cls: type[execution.GroupingBuffer], pairs: list[tuple[bytes, bytes]]) -> Any:
    pre = coders.WindowedValueCoder(_KV, coders.GlobalWindowCoder())
    post = coders.WindowedValueCoder(_GROUPED, coders.GlobalWindowCoder())
    buffer = cls(pre, post, core.Windowing(window.GlobalWindows()))
    impl = pre.get_impl()
    # Two appends, as two bundles' outputs would arrive.
    for half in (pairs[::2], pairs[1::2]):
        buffer.append(
            b"".join(impl.encode_nested(window.GlobalWindows.windowed_value(p)) for p in half)
        )
    return buffer


def _decoded(chunks: list[bytes]) -> list[Any]:
    impl = coders.WindowedValueCoder(_GROUPED, coders.GlobalWindowCoder()).get_impl()
    return [(v.value, v.timestamp, v.pane_info) for c in chunks for v in impl.decode_all(c)]


_PAIRS = [(b"k%03d" % (i % 37), b"v" * (i % 500)) for i in range(3000)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunked_partition_is_beams_partition_cut_at_element_boundaries(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(streamed_inputs, "CHUNK_BYTES", 4096)
    beams = _buffer(execution.GroupingBuffer, _PAIRS).partition(workers)
    ours = _buffer(ChunkedGroupingBuffer, _PAIRS).partition(workers)
    assert len(ours) == workers
    for beam_part, our_part in zip(beams, ours, strict=True):
        # The same groups (key, values, window, timestamp, pane) in the same order...
        assert _decoded(our_part) == _decoded(beam_part)
        # ... in many chunks, each cut as soon as it reached the size.
        assert len(our_part) > 3
        assert b"".join(our_part) == b"".join(beam_part)
    # Partitioned once: asking again gives the same parts.
    assert _buffer(ChunkedGroupingBuffer, _PAIRS).partition(workers) == ours


def test_only_beams_grouping_buffers_are_switched() -> None:
    grouping = _buffer(execution.GroupingBuffer, _PAIRS[:10])
    listed = execution.ListBuffer(coder_impl=_KV.get_impl())
    chunk_grouped_inputs([grouping, listed])
    assert type(grouping) is ChunkedGroupingBuffer
    assert type(listed) is execution.ListBuffer


def _received(channel: data_plane.InMemoryDataChannel, instruction: str) -> list[Any]:
    return [
        (e.transform_id, e.data, e.is_last)
        for e in channel.inverse().input_elements(instruction, ["t1", "t2"])
        if isinstance(e, beam_fn_api_pb2.Elements.Data)
    ]


def test_each_chunk_goes_as_its_own_message_in_order() -> None:
    # (Beam's in-memory channel sends no end marker; the gRPC one does: the pipeline test.)
    inner = data_plane.InMemoryDataChannel()
    channel = StreamingDataChannel(inner)
    first = channel.output_stream("bundle_1", "t1")
    for chunk in (b"a" * 10, b"b" * 20, b"c"):
        first.write(chunk)
    first.close()
    second = channel.output_stream("bundle_1", "t2")
    second.close()
    channel.close()  # waits for the sender
    assert _received(inner, "bundle_1") == [
        ("t1", b"a" * 10, False),
        ("t1", b"b" * 20, False),
        ("t1", b"c", False),
    ]


class _BrokenChannel(data_plane.InMemoryDataChannel):
    def output_stream(self, instruction_id: str, transform_id: str) -> Any:
        raise ConnectionError("worker gone")


def test_a_failed_send_fails_the_bundle_waiting_for_it() -> None:
    channel = StreamingDataChannel(_BrokenChannel())
    stream = channel.output_stream("bundle_1", "t1")
    stream.write(b"x")
    stream.close()
    channel.close()
    with pytest.raises(RuntimeError, match="could not be sent") as failure:
        list(channel.input_elements("bundle_1", ["t1"]))
    assert isinstance(failure.value.__cause__, ConnectionError)
    with pytest.raises(RuntimeError, match="could not be sent"):
        channel.output_stream("bundle_2", "t1")


def test_two_workers_get_many_chunks_and_give_beams_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The runner is this process: small chunks make every grouped input many messages.
    monkeypatch.setattr(streamed_inputs, "CHUNK_BYTES", 1024)
    options = PipelineOptions(list(TWO_WORKERS))
    words = [f"w{i % 101}" for i in range(20_000)]
    with beam.Pipeline(runner=C4DirectRunner(), options=options) as p:
        counts = (
            p
            | beam.Create(words)
            | beam.Map(lambda w: (w, 1))
            | beam.GroupByKey()
            | beam.MapTuple(lambda w, ones: (w, sum(ones)))
        )
        expected = [(f"w{i}", len(range(i, 20_000, 101))) for i in range(101)]
        assert_that(counts, equal_to(expected))
