"""A batch's reader ids as bytes (revision 0018): every list reads back as it went in,
about a byte an id for a batch of neighbours, and nothing else passes for one."""

from __future__ import annotations

import random

import pytest

from newsletter.store.db import decode_ids, encode_ids, first_id


@pytest.mark.parametrize("seed", range(20))
def test_every_list_reads_back_in_order(seed: int) -> None:
    rng = random.Random(seed)
    gaps = rng.choice([[1], [1, 1, 2], [1, 200], [1, 70_000, 3_000_000_000]])
    ids, at = [], rng.randrange(0, 2**35)
    for _ in range(rng.randrange(1, 1500)):
        ids.append(at)
        at += rng.choice(gaps)
    assert decode_ids(encode_ids(ids)) == ids
    assert decode_ids(encode_ids(list(reversed(ids)))) == ids  # sorted on the way in


def test_a_batch_of_neighbours_takes_a_byte_an_id() -> None:
    dense = list(range(1_000_001, 1_002_001))
    assert len(encode_ids(dense)) == 1 + 3 + 1999  # format, the first id, one a step
    gappy = [i for i in dense if i % 10]  # a reader in ten gone: steps of 1 and 2
    assert len(encode_ids(gappy)) == 1 + 3 + len(gappy) - 1
    assert encode_ids([0]) == b"\x01\x00" and encode_ids([127, 128]) == b"\x01\x7f\x01"
    assert encode_ids([5, 300]) == b"\x01\x05\xa7\x02"  # a step of 295: two bytes


@pytest.mark.parametrize("ids", [[], [3, 3], [-1, 4]])
def test_a_list_names_each_reader_once(ids: list[int]) -> None:
    with pytest.raises(ValueError):
        encode_ids(ids)


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x02\x05", b"[1, 2]", b"\x01\x05\x81",
                                  b"\x01\x85\x01\x80"])
def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_ids(data)


@pytest.mark.parametrize("ids", [[0], [5, 300], [127, 128], [2**35, 2**35 + 1], [300, 2**40]])
def test_the_first_id_is_read_from_the_start_alone(ids: list[int]) -> None:
    data = encode_ids(ids)
    assert first_id(data) == ids[0]
    assert first_id(data[:1 + len(encode_ids(ids[:1])) - 1]) == ids[0]  # the rest not read
