"""statsforecast's ARIMA and ETS on the data ``bench/fit_speed.py`` hands it: the reference its
fits are timed against.

statsforecast 2.1 pins pandas below 3, so it cannot share the project's environment; this script
runs in an interpreter of its own (``python -m venv sf && sf/bin/pip install statsforecast``) and
imports nothing of the project.

    python bench/statsforecast_reference.py INPUT.npz OUTPUT.json
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
from statsforecast.models import ARIMA, AutoETS


def main() -> int:
    data = np.load(sys.argv[1])
    arima_seconds, ets_seconds, ets_means = [], [], []
    for index in range(int(data["arima_count"])):
        values, regressors = data[f"arima_y{index}"], data[f"arima_x{index}"]
        started = time.perf_counter()
        ARIMA(order=(2, 1, 1), include_drift=True).fit(values, regressors)
        arima_seconds.append(time.perf_counter() - started)
    season = int(data["season"])
    for index in range(int(data["ets_count"])):
        values = data[f"ets_y{index}"]
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = AutoETS(season_length=season, model="AAA", damped=True).fit(values)
                mean = float(model.predict(h=int(data["lead"]))["mean"][-1])
        except Exception:  # noqa: BLE001 - a failed fit is counted, whatever statsforecast raised
            mean = float("nan")
        ets_seconds.append(time.perf_counter() - started)
        ets_means.append(mean)
    with open(sys.argv[2], "w", encoding="utf-8") as file:
        json.dump({"arima_seconds": arima_seconds, "ets_seconds": ets_seconds, "ets_means": ets_means}, file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
