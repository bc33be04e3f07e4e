"Data loading, validation errors that locate the problem, and temporal splits."
import numpy as np
import pandas as pd
import pytest

from tradenb.core import Config, sha256_file
from tradenb.data import (PANEL_COLUMNS, SPLITS, DataError, check_splits, load_panel,
                          panel_from_yahoo_csvs, proportional_splits, shipped_panel_path, split_mask, validate_panel)


def test_shipped_panels_match_provenance(panel):
    assert panel.symbol.nunique() == 51 and len(panel) == 37_833
    assert str(panel.date.min().date()) == "2022-11-10" and str(panel.date.max().date()) == "2025-11-10"
    crypto = load_panel(universe="crypto")
    assert set(crypto.symbol) == {"BTC", "ETH", "SOL"} and str(crypto.date.max().date()) == "2024-12-31"
    prov = (Config().data_dir / "PROVENANCE.md").read_text()
    for u in ("nifty50", "crypto"):  # the hashes recorded in PROVENANCE.md are the shipped files' hashes
        assert sha256_file(shipped_panel_path(u)) in prov


def test_shipped_panel_rebuilds_from_raw(panel, tmp_path):
    rebuilt = panel_from_yahoo_csvs(Config().data_dir / "raw/nifty50", strip_suffix=".NS")
    pd.testing.assert_frame_equal(rebuilt.reset_index(drop=True), panel[PANEL_COLUMNS].reset_index(drop=True))


def _write(df, path):
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("col,value,message", [
    ("close", "abc", "non-numeric value 'abc'"),
    ("open", "", "NaN (a run of"),
    ("low", "0", "non-positive price"),
    ("volume", "-10", "negative volume"),
    ("high", "1.0", "< low"),
])
def test_bad_values_name_file_symbol_column_row(panel, tmp_path, col, value, message):
    df = panel[panel.symbol == "ITC"].head(40).astype({col: object}).reset_index(drop=True)
    df.loc[12, col] = value
    path = _write(df, tmp_path / "itc.csv")
    with pytest.raises(DataError) as e:
        load_panel(path)
    msg = str(e.value)
    assert "itc.csv" in msg and "symbol 'ITC'" in msg and f"column '{col}'" in msg and "row 13" in msg
    assert message in msg


def test_nan_run_length_reported(panel, tmp_path):
    df = panel[panel.symbol == "ITC"].head(40).reset_index(drop=True)
    df.loc[5:8, "close"] = np.nan
    with pytest.raises(DataError, match=r"row 6 .*a run of 4 missing"):
        load_panel(_write(df, tmp_path / "x.csv"))


def test_missing_columns_duplicates_unsorted_empty(panel, tmp_path):
    df = panel[panel.symbol == "ITC"].head(10).reset_index(drop=True)
    with pytest.raises(DataError, match=r"missing column\(s\) \['close'\]"):
        load_panel(_write(df.drop(columns="close"), tmp_path / "a.csv"))
    with pytest.raises(DataError, match="duplicate date"):
        load_panel(_write(pd.concat([df, df.iloc[[3]]]), tmp_path / "b.csv"))
    with pytest.raises(DataError, match="not sorted"):
        load_panel(_write(df.iloc[[0, 2, 1, 3]], tmp_path / "c.csv"))
    with pytest.raises(DataError, match="empty"):
        load_panel(_write(df.iloc[:0], tmp_path / "d.csv"))
    with pytest.raises(FileNotFoundError):
        load_panel(tmp_path / "nope.csv")


def test_parquet_and_csv_load_the_same(panel, tmp_path):
    df = panel[panel.symbol.isin(["ITC", "TCS"])]
    df.to_parquet(tmp_path / "p.parquet", index=False)
    a, b = load_panel(tmp_path / "p.parquet"), load_panel(_write(df, tmp_path / "p.csv"))
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["sha256"] != b.attrs["sha256"] and a.attrs["universe"] is None


@pytest.mark.parametrize("universe", sorted(SPLITS))
def test_splits_partition_the_days(universe):
    check_splits(SPLITS[universe])
    days = load_panel(universe=universe).date.drop_duplicates()
    counts = sum(split_mask(days, s, universe).astype(int) for s in ("train", "val", "test"))
    assert (counts == 1).all()


def test_nifty_splits_are_the_documented_ones(panel):
    days = panel.date.drop_duplicates().sort_values()
    first = {s: str(days[split_mask(days, s)].min().date())[:7] for s in ("train", "val", "test")}
    last = {s: str(days[split_mask(days, s)].max().date())[:7] for s in ("train", "val", "test")}
    assert first == {"train": "2022-11", "val": "2024-07", "test": "2025-01"}
    assert last == {"train": "2024-06", "val": "2024-12", "test": "2025-11"}


def test_proportional_splits_do_not_overlap():
    s = proportional_splits(pd.bdate_range("2020-01-01", periods=101))
    check_splits(s)
    with pytest.raises(ValueError, match="overlap"):
        check_splits({"train": (None, "2021-01-01"), "val": ("2020-06-01", None)})


def test_duplicate_column_names_are_named(small_panel):
    "Two columns that are the same after case and space folding ('Close' and 'close ') are an error naming both."
    raw = small_panel.rename(columns={"close": "Close"}).assign(**{"close ": small_panel.close})
    with pytest.raises(DataError, match=r"duplicate column name\(s\) \['close'\].*'Close'.*'close '"):
        validate_panel(raw, "prices.csv")
