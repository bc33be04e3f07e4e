"The completion parser: tolerant where unambiguous, never raises, counts what it cannot read."
import numpy as np
from hypothesis import given, settings, strategies as st

from tradenb.prompts import parse_action, strip_think

SYMS = ["RELIANCE", "TCS", "BAJAJ-AUTO", "M&M"]


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_counted_error(text):
    p = parse_action(text, SYMS)
    assert p.fractions.shape == (4,) and np.all(np.abs(p.fractions) <= 1)
    assert p.parse_error or p.hold or p.fractions.any()


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SYMS), st.floats(0.01, 1.0), st.sampled_from(["BUY", "SELL", "buy", "Sell"]),
       st.sampled_from(["{v} {s} {f}", "- **{v} {s} {f}**", "Action: {v} {s} {f}", "1. {v} {s} {p}%"]))
def test_well_formed_orders_are_read_exactly(sym, frac, verb, fmt):
    frac = round(frac, 2)
    line = fmt.format(v=verb, s=sym.lower() if verb.islower() else sym, f=frac, p=round(frac * 100))
    p = parse_action(f"<think>trend up, RSI low</think>\n{line}", SYMS)
    want = round(frac * 100) / 100 if "%" in fmt else frac
    sign = 1 if verb.upper() == "BUY" else -1
    assert not p.parse_error and p.fractions[SYMS.index(sym)] == sign * want


def test_think_blocks_are_removed_and_truncation_is_an_error():
    assert strip_think("<think>BUY TCS 1</think>HOLD").strip() == "HOLD"
    assert parse_action("<think>BUY TCS 1 and then", SYMS).parse_error
    assert parse_action("reasoning</think>\nSELL TCS 0.5", SYMS).fractions[1] == -0.5


def test_sizes_out_of_range_are_errors_not_clipped():
    for bad in ("BUY TCS 1.5", "BUY TCS 0", "BUY TCS 150%", "SELL TCS -0.2", "BUY TCS 1e309"):
        p = parse_action(bad, SYMS)
        assert p.parse_error and not p.fractions.any(), bad


def test_every_parse_error_has_a_named_reason():
    from tradenb.prompts import PARSE_ERROR_REASONS, error_reason
    cases = [("BUY NOPE 0.5", "unknown or missing symbol"), ("BUY AAA 7", "bad size"), ("I am unsure.", "no action found"),
             (None, "not text"), (42, "not text")]
    for text, reason in cases:
        errors = parse_action(text, ["AAA", "BBB"]).errors
        assert [error_reason(e) for e in errors] == [reason], (text, errors)
    assert set(r for _, r in cases) <= set(PARSE_ERROR_REASONS)
