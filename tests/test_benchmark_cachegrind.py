"""The benchmark profiler's reading of cachegrind's summary (``instructions --cache-sim``)."""

from __future__ import annotations

from benchmarks.profile import cachegrind_counts

# What valgrind 3.19.0 printed on stderr for
# ``valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes python -c pass``
# on this project's build machine (its start-up lines left out).
WITH_SIMULATION = """\
==11560== I   refs:      39,742,406
==11560== I1  misses:       310,023
==11560== LLi misses:        11,436
==11560== I1  miss rate:       0.78%
==11560== LLi miss rate:       0.03%
==11560==
==11560== D   refs:      16,562,685  (11,054,093 rd   + 5,508,592 wr)
==11560== D1  misses:       630,189  (   564,111 rd   +    66,078 wr)
==11560== LLd misses:        58,858  (    22,127 rd   +    36,731 wr)
==11560== D1  miss rate:        3.8% (       5.1%     +       1.2%  )
==11560== LLd miss rate:        0.4% (       0.2%     +       0.7%  )
==11560==
==11560== LL refs:          940,212  (   874,134 rd   +    66,078 wr)
==11560== LL misses:         70,294  (    33,563 rd   +    36,731 wr)
==11560== LL miss rate:         0.1% (       0.1%     +       0.7%  )
==11560==
==11560== Branches:       7,098,105  ( 6,196,023 cond +   902,082 ind)
==11560== Mispredicts:      614,804  (   402,486 cond +   212,318 ind)
==11560== Mispred rate:         8.7% (       6.5%     +      23.5%   )
"""

WITHOUT_SIMULATION = "==99== I refs:        2,084,916\n"


def test_every_count_of_a_simulated_run_is_read() -> None:
    assert cachegrind_counts(WITH_SIMULATION) == {
        "instructions": 39_742_406,
        "I1 misses": 310_023,
        "D1 misses": 630_189,
        "branches": 7_098_105,
        "mispredicts": 614_804,
    }


def test_a_plain_run_gives_the_instructions_alone() -> None:
    assert cachegrind_counts(WITHOUT_SIMULATION) == {"instructions": 2_084_916}


def test_no_summary_gives_nothing() -> None:
    assert cachegrind_counts("valgrind: command not found\n") == {}
