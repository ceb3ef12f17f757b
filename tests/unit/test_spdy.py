"""SPDY/3.1 framing and the server session (apiserver.http.spdy)."""

from __future__ import annotations

import asyncio
import random
import struct
import zlib

import pytest

from apiserver.http import spdy
from apiserver.http.portforward import stream_problem
from apiserver.http.proxy import proxy_remainder, split_scheme_name_port


def roundtrip(frame: spdy.Frame) -> spdy.Frame:
    compressor = spdy.HeaderCompressor()
    frames = spdy.FrameParser().feed(spdy.encode_frame(frame, compressor))
    assert len(frames) == 1
    return frames[0]


class TestDictionary:
    def test_matches_spdystream(self) -> None:
        """The dictionary is byte for byte moby/spdystream's (its Adler-32 is
        what a zlib stream primed with it announces)."""
        assert len(spdy.HEADER_DICTIONARY) == 1423
        assert zlib.adler32(spdy.HEADER_DICTIONARY) == 0xE3C6A7C2

    def test_compressed_block_names_the_dictionary(self) -> None:
        """A header block's zlib header carries FDICT and the dictionary's id."""
        block = spdy.HeaderCompressor().compress({"port": ["80"]})
        assert block[1] & 0x20
        assert struct.unpack(">I", block[2:6])[0] == zlib.adler32(spdy.HEADER_DICTIONARY)


class TestFrames:
    @pytest.mark.parametrize("frame", [
        spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}, spdy.FLAG_FIN, 0, 3, 0),
        spdy.SynReply(3, {}),
        spdy.SynReply(5, {"a": ["1", "2"]}, spdy.FLAG_FIN),
        spdy.RstStream(7, spdy.CANCEL),
        spdy.Settings(((0, 4, 100), (1, 7, 65536))),
        spdy.Ping(9),
        spdy.GoAway(11, spdy.GOAWAY_OK),
        spdy.HeadersFrame(13, {"x": ["y"]}),
        spdy.WindowUpdate(15, 1024),
        spdy.Data(17, b"hello", spdy.FLAG_FIN),
        spdy.Data(19, b""),
    ])
    def test_round_trip(self, frame: spdy.Frame) -> None:
        """Every frame type parses back to what was encoded."""
        assert roundtrip(frame) == frame

    def test_wire_layout_of_a_data_frame(self) -> None:
        """DATA: stream id, flags and 24-bit length, then the payload."""
        assert spdy.encode_frame(spdy.Data(5, b"ab", spdy.FLAG_FIN)) == b"\x00\x00\x00\x05\x01\x00\x00\x02ab"

    def test_wire_layout_of_a_ping(self) -> None:
        """A control frame: control bit, version 3, type, flags, length."""
        assert spdy.encode_frame(spdy.Ping(1)) == b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"

    def test_header_names_are_lower_cased(self) -> None:
        """Go's http.Header names (``streamType``) travel in lower case."""
        block = spdy.HeaderBlock.of({"streamType": "data", "requestID": "3"})
        frame = roundtrip(spdy.SynStream(1, block))
        assert isinstance(frame, spdy.SynStream)
        assert spdy.HeaderBlock.get(frame.headers, "streamType") == "data"
        assert spdy.HeaderBlock.get(frame.headers, "requestID") == "3"

    def test_compression_context_spans_frames(self) -> None:
        """Header blocks share one zlib stream per direction: the second block
        only inflates after the first, and repeats compress smaller."""
        compressor, parser = spdy.HeaderCompressor(), spdy.FrameParser()
        headers = {"streamtype": ["data"], "port": ["8080"], "requestid": ["41"]}
        first = spdy.encode_frame(spdy.SynStream(1, headers), compressor)
        second = spdy.encode_frame(spdy.SynStream(3, headers), compressor)
        assert len(second) < len(first)
        assert [f.stream_id for f in parser.feed(first + second)] == [1, 3]  # type: ignore[union-attr]
        with pytest.raises(spdy.SpdyError):
            spdy.FrameParser().feed(second)

    def test_frames_split_across_chunks(self) -> None:
        """Bytes fed one at a time give the same frames."""
        compressor = spdy.HeaderCompressor()
        frames: list[spdy.Frame] = [spdy.SynStream(1, {"port": ["80"]}), spdy.Data(1, b"x" * 1000), spdy.Ping(3)]
        wire = b"".join(spdy.encode_frame(f, compressor) for f in frames)
        parser = spdy.FrameParser()
        got: list[spdy.Frame] = []
        for i in range(len(wire)):
            got += parser.feed(wire[i:i + 1])
        assert got == frames

    def test_unknown_control_frame_is_ignored(self) -> None:
        """SPDY/3 says a control frame of an unknown type is skipped."""
        noop = b"\x80\x03\x00\x05\x00\x00\x00\x00"
        assert spdy.FrameParser().feed(noop + spdy.encode_frame(spdy.Ping(1))) == [spdy.Ping(1)]


class TestMalformed:
    @pytest.mark.parametrize("wire", [
        b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01",  # SPDY/2
        b"\x80\x03\x00\x06\x00\x00\x00\x05\x00\x00\x00\x01\x00",  # PING of 5 bytes
        b"\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01",  # RST_STREAM on stream 0
        b"\x80\x03\x00\x01\x00\x00\x00\x0a" + b"\x00" * 10,  # SYN_STREAM on stream 0
        b"\x80\x03\x00\x01\x00\x00\x00\x0e\x00\x00\x00\x01" + b"\x00" * 6 + b"junk",  # header block not zlib
        b"\x80\x03\x00\x04\x00\x00\x00\x08\x00\x00\x00\x05\x00\x00\x00\x00",  # SETTINGS count too large
    ])
    def test_is_a_spdy_error(self, wire: bytes) -> None:
        """Malformed frames raise SpdyError, nothing else."""
        with pytest.raises(spdy.SpdyError):
            spdy.FrameParser().feed(wire)

    def test_oversized_frame_refused_before_it_arrives(self) -> None:
        """A length over the parser's limit is an error at once, not a buffer."""
        parser = spdy.FrameParser(max_frame=1024)
        with pytest.raises(spdy.SpdyError, match="larger"):
            parser.feed(b"\x00\x00\x00\x01\x00\x10\x00\x00")

    def test_header_bomb_is_refused(self) -> None:
        """A block that inflates past the limit is an error."""
        compressor = spdy.HeaderCompressor()
        wire = spdy.encode_frame(spdy.SynStream(1, {"x": ["a" * (spdy.MAX_HEADER_BLOCK + 10)]}), compressor)
        with pytest.raises(spdy.SpdyError, match="inflates"):
            spdy.FrameParser().feed(wire)

    def test_upper_case_and_duplicate_names_are_errors(self) -> None:
        """Names must be lower case and unique, as spdystream checks."""
        for raw in (b"\x00\x00\x00\x01\x00\x00\x00\x01X\x00\x00\x00\x00",
                    b"\x00\x00\x00\x02" + (b"\x00\x00\x00\x01x\x00\x00\x00\x00" * 2)):
            with pytest.raises(spdy.SpdyError):
                spdy.HeaderBlock.decode(raw, 1)

    def test_fuzz_never_escapes_as_anything_else(self) -> None:
        """Random and mutated bytes give frames or SpdyError, never a crash."""
        rng = random.Random(12)
        compressor = spdy.HeaderCompressor()
        valid = b"".join(spdy.encode_frame(f, compressor) for f in (
            spdy.SynStream(1, {"port": ["80"], "streamtype": ["data"]}), spdy.Data(1, b"abc"), spdy.Ping(1),
            spdy.GoAway(1), spdy.Settings(((0, 7, 1),)), spdy.WindowUpdate(1, 5)))
        for _ in range(2000):
            wire = bytearray(valid)
            for _ in range(rng.randint(1, 6)):
                wire[rng.randrange(len(wire))] = rng.randrange(256)
            if rng.random() < 0.3:
                wire = bytearray(rng.randbytes(rng.randint(0, 64)))
            try:
                spdy.FrameParser(max_frame=4096).feed(bytes(wire))
            except spdy.SpdyError:
                pass


class FakeTransport:
    """What the session writes, parsed back (with the peer's decompressor)."""

    def __init__(self) -> None:
        self.parser = spdy.FrameParser()
        self.frames: list[spdy.Frame] = []
        self.closed = False

    async def send(self, data: bytes) -> None:
        self.frames += self.parser.feed(data)

    async def close(self) -> None:
        self.closed = True


class Peer:
    """The client side: frames to bytes with its own compressor."""

    def __init__(self) -> None:
        self.compressor = spdy.HeaderCompressor()

    def __call__(self, *frames: spdy.Frame) -> bytes:
        return b"".join(spdy.encode_frame(f, self.compressor) for f in frames)


def collect(streams: list[spdy.SpdyStream]) -> spdy.Accept:
    """An accept that keeps every stream."""
    def accept(stream: spdy.SpdyStream) -> bool:
        streams.append(stream)
        return True
    return accept


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class TestSession:
    def test_accepted_stream_is_replied_and_carries_data(self) -> None:
        """SYN_STREAM -> SYN_REPLY; DATA reaches the stream; writes go out as DATA."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            streams: list[spdy.SpdyStream] = []
            conn = spdy.SpdyConnection(transport.send, collect(streams),
                                       close_transport=transport.close)
            conn.start()
            conn.feed_data(peer(spdy.SynStream(1, {"port": ["80"]}), spdy.Data(1, b"ping", spdy.FLAG_FIN)))
            await settle()
            assert transport.frames == [spdy.SynReply(1, {})]
            stream = streams[0]
            assert stream.header("port") == "80"
            assert await stream.read() == b"ping"
            assert await stream.read() == b""
            await stream.write(b"pong")
            await stream.close()
            assert transport.frames[1:] == [spdy.Data(1, b"pong"), spdy.Data(1, b"", spdy.FLAG_FIN)]
            assert conn.streams == 0
            conn.feed_eof()
            await conn.wait_closed()
            assert transport.closed
        asyncio.run(run())

    def test_refused_stream_is_reset(self) -> None:
        """accept saying no is RST_STREAM REFUSED_STREAM."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            conn = spdy.SpdyConnection(transport.send, lambda s: False)
            conn.start()
            conn.feed_data(peer(spdy.SynStream(1, {})))
            await settle()
            assert transport.frames == [spdy.RstStream(1, spdy.REFUSED_STREAM)]
            conn.feed_eof()
            await conn.wait_closed()
        asyncio.run(run())

    def test_client_pings_are_echoed(self) -> None:
        """An odd (client) ping comes back; an even one would be our own."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            conn = spdy.SpdyConnection(transport.send, lambda s: True)
            conn.start()
            conn.feed_data(peer(spdy.Ping(1), spdy.Ping(2), spdy.WindowUpdate(0, 10), spdy.Settings(())))
            await settle()
            assert transport.frames == [spdy.Ping(1)]
            conn.feed_eof()
            await conn.wait_closed()
        asyncio.run(run())

    def test_protocol_error_ends_with_goaway(self) -> None:
        """Garbage ends the session with GOAWAY PROTOCOL_ERROR and ends its streams."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            streams: list[spdy.SpdyStream] = []
            conn = spdy.SpdyConnection(transport.send, collect(streams),
                                       close_transport=transport.close)
            conn.start()
            conn.feed_data(peer(spdy.SynStream(1, {})))
            await settle()
            conn.feed_data(b"\x80\x09\x00\x01\x00\x00\x00\x00")
            await conn.wait_closed()
            assert transport.frames[-1] == spdy.GoAway(1, spdy.GOAWAY_PROTOCOL_ERROR)
            assert conn.error is not None and "version 9" in conn.error
            assert await streams[0].read() == b""
            assert transport.closed
        asyncio.run(run())

    def test_peer_reset_ends_the_stream(self) -> None:
        """RST_STREAM from the client: reads end, writes are dropped."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            streams: list[spdy.SpdyStream] = []
            conn = spdy.SpdyConnection(transport.send, collect(streams))
            conn.start()
            conn.feed_data(peer(spdy.SynStream(1, {}), spdy.RstStream(1, spdy.CANCEL)))
            await settle()
            assert await streams[0].read() == b""
            await streams[0].write(b"late")
            assert transport.frames == [spdy.SynReply(1, {})]
            conn.feed_eof()
            await conn.wait_closed()
        asyncio.run(run())

    def test_stream_ids_must_be_odd_and_increasing(self) -> None:
        """A server-parity or reused stream id is a PROTOCOL_ERROR reset."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            conn = spdy.SpdyConnection(transport.send, lambda s: True)
            conn.start()
            conn.feed_data(peer(spdy.SynStream(3, {}), spdy.SynStream(1, {}), spdy.SynStream(4, {})))
            await settle()
            assert transport.frames == [spdy.SynReply(3, {}), spdy.RstStream(1, spdy.PROTOCOL_ERROR),
                                        spdy.RstStream(4, spdy.PROTOCOL_ERROR)]
            conn.feed_eof()
            await conn.wait_closed()
        asyncio.run(run())

    def test_large_writes_are_split(self) -> None:
        """A write larger than one chunk goes out as several DATA frames."""
        async def run() -> None:
            transport, peer = FakeTransport(), Peer()
            streams: list[spdy.SpdyStream] = []
            conn = spdy.SpdyConnection(transport.send, collect(streams))
            conn.start()
            conn.feed_data(peer(spdy.SynStream(1, {})))
            await settle()
            await streams[0].write(b"z" * (spdy.MAX_DATA_CHUNK * 2 + 1))
            sizes = [len(f.data) for f in transport.frames if isinstance(f, spdy.Data)]
            assert sizes == [spdy.MAX_DATA_CHUNK, spdy.MAX_DATA_CHUNK, 1]
            conn.feed_eof()
            await conn.wait_closed()
        asyncio.run(run())


class TestNegotiation:
    def test_common_protocol(self) -> None:
        """The first client protocol the server speaks wins."""
        assert spdy.negotiate_protocol(["portforward.k8s.io"], ("portforward.k8s.io",)) == "portforward.k8s.io"

    def test_no_common_protocol_is_403(self) -> None:
        """apimachinery's words and code."""
        with pytest.raises(spdy.errors.ApiError) as info:
            spdy.negotiate_protocol(["v4.channel.k8s.io"], ("portforward.k8s.io",))
        assert info.value.code == 403
        assert info.value.message == ("unable to upgrade: unable to negotiate protocol: client supports"
                                      " [v4.channel.k8s.io], server accepts [portforward.k8s.io]")


class FakeStream:
    def __init__(self, **headers: str):
        self.headers = headers

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


class TestPortForwardStreams:
    @pytest.mark.parametrize(("headers", "problem"), [
        ({"streamType": "data"}, '"port" header is required'),
        ({"port": "0", "streamType": "data"}, 'port "0" must be > 0'),
        ({"port": "70000", "streamType": "data"},
         'unable to parse "70000" as a port: strconv.ParseUint: parsing "70000": value out of range'),
        ({"port": "80"}, '"streamType" header is required'),
        ({"port": "80", "streamType": "data"}, None),
        ({"port": "80", "streamType": "error"}, None),
    ])
    def test_kubelet_checks(self, headers: dict[str, str], problem: str | None) -> None:
        """The checks kubelet makes on each new stream, in its words."""
        assert stream_problem(FakeStream(**headers)) == problem  # type: ignore[arg-type]


class TestProxyPaths:
    @pytest.mark.parametrize("spec", ["", ":80", "ftp:web:80", "a:b:c:d"])
    def test_invalid_specs(self, spec: str) -> None:
        """What SplitSchemeNamePort refuses."""
        with pytest.raises(ValueError):
            split_scheme_name_port(spec)

    def test_remainder_keeps_escapes_and_the_trailing_slash(self) -> None:
        """The rest of the path goes upstream as it was written."""
        path = "/api/v1/namespaces/default/services/https:web:443/proxy/a/b%2Fc/"
        assert proxy_remainder(path, "services", "https:web:443") == "/a/b%2Fc/"
        assert proxy_remainder("/api/v1/namespaces/default/pods/web/proxy/", "pods", "web") == "/"
        assert proxy_remainder("/api/v1/namespaces/default/pods/web/log", "pods", "web") is None
