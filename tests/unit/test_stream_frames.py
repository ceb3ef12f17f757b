"""The pure parts of streaming sessions: frames, the shim's attach frames, resizes, final statuses."""

from __future__ import annotations

import os

import pytest

from apiserver.http.kubeletproxy import _final_status, _parse_resize
from kemu import wire
from kemu.kubeletstream import CLIENT_TYPES, MAGIC, SERVER_TYPES, StreamFrame, StreamSpec
from kubelet.shim import AttachDecoder, attach_frame


class TestStreamFrame:
    def test_round_trip(self) -> None:
        """A frame decodes to what was encoded."""
        frame = StreamFrame(os.urandom(16), b"0", b"\x00\xffbytes")
        assert StreamFrame.decode(frame.encode(), CLIENT_TYPES) == frame

    @pytest.mark.parametrize("frames", [
        [MAGIC],
        [b"other", os.urandom(16), b"0", b""],
        [MAGIC, b"short", b"0", b""],
        [MAGIC, os.urandom(16), b"Z", b""],
        [MAGIC, os.urandom(16), b"0", b"", b"extra"],
    ])
    def test_malformed_frames_are_wire_errors(self, frames: list[bytes]) -> None:
        """Wrong frame count, magic, id length or type: WireError, nothing else."""
        with pytest.raises(wire.WireError):
            StreamFrame.decode(frames, CLIENT_TYPES)

    def test_a_client_cannot_send_server_types(self) -> None:
        """``x`` (exit) is the kubelet's word only."""
        with pytest.raises(wire.WireError):
            StreamFrame.decode([MAGIC, os.urandom(16), b"x", b""], CLIENT_TYPES)
        assert StreamFrame.decode([MAGIC, b"s" * 16, b"x", b""], SERVER_TYPES).type == b"x"

    @pytest.mark.parametrize("payload", [wire.pack(-1), wire.pack("3"), wire.pack(True), b"\xc1"])
    def test_bad_acks(self, payload: bytes) -> None:
        """An ack is a non-negative int."""
        with pytest.raises(wire.WireError):
            StreamFrame(b"s" * 16, b"a", payload).count()

    def test_open_payload(self) -> None:
        """An open names the pod, the container and what to run."""
        spec = StreamSpec("ns", "web", "nginx", ["sh"], True, tty=True, width=80, height=24)
        body = wire.unpack(spec.open_payload())
        assert (body["namespace"], body["pod"], body["command"], body["tty"], body["width"]) == ("ns", "web", ["sh"], True, 80)


class TestAttachDecoder:
    def test_frames_split_anywhere(self) -> None:
        """Frames cut at any byte come out whole and in order."""
        data = attach_frame(b"I", b"hello") + attach_frame(b"E") + attach_frame(b"R", b"80,24")
        decoder = AttachDecoder()
        out = [f for i in range(len(data)) for f in decoder.feed(data[i:i + 1])]
        assert out == [(b"I", b"hello"), (b"E", b""), (b"R", b"80,24")]

    def test_oversized_frame_stops_the_decoder(self) -> None:
        """A frame over 1 MiB is an error, not a buffer that grows."""
        decoder = AttachDecoder()
        assert decoder.feed(b"I" + (2 << 20).to_bytes(4, "big")) == []
        assert decoder.error is not None
        assert decoder.feed(attach_frame(b"I", b"x")) == []


class TestResize:
    @pytest.mark.parametrize(("payload", "size"), [
        (b'{"Width": 100, "Height": 30}', (100, 30)),
        (b'{"Width": 0, "Height": 30}', None),
        (b'{"Width": "80", "Height": 30}', None),
        (b"[80, 24]", None),
        (b"\xff", None),
    ])
    def test_parse(self, payload: bytes, size: tuple[int, int] | None) -> None:
        """client-go's TerminalSize JSON, or nothing for anything else."""
        assert _parse_resize(payload) == size


class TestFinalStatus:
    def test_exit_codes(self) -> None:
        """0 is Success; another code is NonZeroExitCode with the code as its cause (kubectl's exit code)."""
        assert _final_status(["sh"], {"exitCode": 0}) == {"metadata": {}, "status": "Success"}
        status = _final_status(["sh"], {"exitCode": 3})
        assert (status["reason"], status["details"]["causes"]) == ("NonZeroExitCode", [{"reason": "ExitCode", "message": "3"}])

    def test_errors(self) -> None:
        """A session that could not start is an InternalError with the kubelet's message."""
        status = _final_status(["x"], {"error": {"code": 400, "message": 'container not found ("c")'}})
        assert status["message"] == 'Internal error occurred: unable to upgrade connection: container not found ("c")'
