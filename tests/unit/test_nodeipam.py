"""The node IPAM allocator: distinct blocks, the reserved first block,
release, exhaustion and rebuilding from existing nodes."""

from __future__ import annotations

import pytest

from controllermanager.nodeipam import CidrAllocator, CidrsExhausted


class TestCidrAllocator:
    def test_first_block_is_skipped(self) -> None:
        """Node CIDRs start at 127.244.1.0/24; 127.244.0.0/24 is never handed out."""
        a = CidrAllocator("127.244.0.0/16", 24)
        assert [a.allocate() for _ in range(3)] == ["127.244.1.0/24", "127.244.2.0/24", "127.244.3.0/24"]
        assert a.capacity == 255

    def test_blocks_are_distinct_until_exhausted(self) -> None:
        """A /22 cut in /24s has 3 usable blocks; the 4th allocation fails clearly."""
        a = CidrAllocator("10.0.0.0/22", 24)
        got = {a.allocate() for _ in range(3)}
        assert got == {"10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"}
        with pytest.raises(CidrsExhausted, match=r"no free /24 left in 10\.0\.0\.0/22"):
            a.allocate()

    def test_release_then_reuse_after_wrapping(self) -> None:
        """A released block is not handed out at once, but once the walk wraps around."""
        a = CidrAllocator("10.0.0.0/22", 24)
        first = a.allocate()
        a.allocate()
        a.release(first)
        assert a.allocate() == "10.0.3.0/24"
        assert a.allocate() == first

    def test_occupy_rebuilds_the_map(self) -> None:
        """Blocks existing nodes carry are taken; foreign or odd-sized CIDRs are ignored."""
        a = CidrAllocator("127.244.0.0/16", 24)
        assert a.occupy("127.244.1.0/24")
        assert a.occupy("127.244.2.0/24")
        assert not a.occupy("10.1.0.0/24")
        assert not a.occupy("127.244.0.0/23")
        assert not a.occupy("garbage")
        assert a.used == 2
        assert a.allocate() == "127.244.3.0/24"

    def test_other_mask_sizes(self) -> None:
        """A /26 per node gives 64-address blocks."""
        a = CidrAllocator("127.244.0.0/16", 26)
        assert a.allocate() == "127.244.0.64/26"
        assert a.capacity == 1023

    def test_ipv6(self) -> None:
        """IPv6 ranges work the same way."""
        a = CidrAllocator("fd00::/48", 64)
        assert a.allocate() == "fd00:0:0:1::/64"

    @pytest.mark.parametrize(
        ("cidr", "mask", "message"),
        [
            ("127.244.0.0/16", 8, "must be between"),
            ("127.244.0.0/16", 33, "must be between"),
            ("not-a-cidr", 24, "is not a valid CIDR"),
            ("127.244.0.1/16", 24, "is not a valid CIDR"),
        ],
    )
    def test_bad_flags(self, cidr: str, mask: int, message: str) -> None:
        """Bad --cluster-cidr or --node-cidr-mask-size values raise ValueError naming the flag."""
        with pytest.raises(ValueError, match=message):
            CidrAllocator(cidr, mask)
