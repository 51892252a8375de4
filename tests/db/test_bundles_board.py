"""The leaderboard's Origin filter on a store holding a measured and an imported run."""

from __future__ import annotations

import pytest

from db import bundle_format
from db.bundles import bundle_header, export_runs, import_bundle
from db.store import Store
from tests.db.test_bundles import make_run

pytest.importorskip("streamlit")


def test_board_filters_by_origin(tmp_path, monkeypatch):
    from skipbench.settings import reset_settings_cache
    from tests.leaderboard.conftest import app_test

    cluster = Store(f"sqlite:///{tmp_path / 'cluster.db'}")
    make_run(cluster, "model-from-cluster")
    bundle = tmp_path / "cluster.jsonl"
    bundle_format.write(bundle, bundle_header({}), export_runs(cluster.url))
    url = f"sqlite:///{tmp_path / 'laptop.db'}"
    make_run(Store(url), "model-measured-here", method="dense")
    import_bundle(url, bundle_format.read(bundle), bundle)
    monkeypatch.setenv("SKIPBENCH_DATABASE_URL", url)
    reset_settings_cache()

    at = app_test()
    board = at.dataframe[0].value
    assert set(board["Model"]) == {"model-from-cluster", "model-measured-here"}
    options = at.multiselect(key="lb_origins").options
    imported = next(o for o in options if o.startswith("imported: cluster.jsonl"))
    at.multiselect(key="lb_origins").set_value([imported]).run()
    assert set(at.dataframe[0].value["Model"]) == {"model-from-cluster"}
    at.multiselect(key="lb_origins").set_value(["measured in this store"]).run()
    assert set(at.dataframe[0].value["Model"]) == {"model-measured-here"}
