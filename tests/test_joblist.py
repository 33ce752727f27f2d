# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the job-history reader (listOldJobs.php)."""
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro.exceptions import ReaderError
from xrtprods_astro.readers.jobs import JOB_PRODUCT_COLUMNS, read_job_list

DATA = Path(__file__).parent / "data"
EXPECTED_COLUMNS = (["job_id", "name", "submitted"] + list(JOB_PRODUCT_COLUMNS.values())
                    + ["products", "has_products"])


@pytest.fixture
def answer():
    return json.loads((DATA / "jobs_list.json").read_text())


def test_values_types_and_order(answer):
    jobs = read_job_list(answer)
    assert isinstance(jobs, Table)
    assert jobs.colnames == EXPECTED_COLUMNS
    # Most recent first, even though the answer had 3498 before 3501.
    assert list(jobs["job_id"]) == [3512, 3501, 3498]
    assert jobs["job_id"].dtype.kind == "i"
    assert list(jobs["name"]) == ["GRB 200416A", "Swift J1858.6-0814", "GK Per"]
    assert isinstance(jobs["submitted"], Time)
    assert jobs["submitted"].scale == "utc"
    assert jobs["submitted"][0].isot == "2024-05-02T14:03:27.000"
    assert jobs["submitted"][1] > jobs["submitted"][2]
    first = jobs[0]
    assert first["lightcurve"] and first["spectrum"] and first["standard_position"]
    assert not first["astrometric_position"] and not first["image"]
    assert first["products"] == "lightcurve,spectrum,standard_position,enhanced_position"
    assert jobs["has_products"].dtype == bool
    assert list(jobs["has_products"]) == [True, False, True]


def test_source_detection_masked_when_absent(answer):
    jobs = read_job_list(answer)
    sd = jobs["source_detection"]
    # Only GK Per's entry has a SourceDet flag.
    assert list(sd.mask) == [True, True, False]
    assert bool(sd[2]) is True
    assert jobs[2]["products"] == "lightcurve,image,source_detection"
    assert not np.any(jobs["lightcurve"].mask)


def test_json_text_bytes_path_and_bare_list(answer, tmp_path):
    text = json.dumps(answer)
    path = tmp_path / "jobs.json"
    path.write_text(text)
    for data in (text, text.encode(), path, str(path), answer["jobs"]):
        jobs = read_job_list(data)
        assert list(jobs["job_id"]) == [3512, 3501, 3498]


def test_int_and_string_flags():
    jobs = read_job_list({"jobs": [{"JobID": "12", "Name": "X", "DateSubmitted": "2023-01-02 03:04:05",
                                    "LightCurve": 1, "Spectrum": "0", "StandardPos": "1",
                                    "EnhancedPos": 0, "AstromPos": False, "Image": "false",
                                    "hasProd": 0}]})
    assert jobs["job_id"][0] == 12
    assert jobs["products"][0] == "lightcurve,standard_position"
    assert not jobs["has_products"][0]


@pytest.mark.parametrize("data", [{"jobs": []}, [], {"OK": 1, "APIVersion": "1.12", "jobs": None}])
def test_empty_list_gives_empty_table_with_columns(data):
    jobs = read_job_list(data)
    assert len(jobs) == 0
    assert jobs.colnames == EXPECTED_COLUMNS
    assert isinstance(jobs["submitted"], Time)
    assert jobs["job_id"].dtype.kind == "i"


@pytest.mark.parametrize("data, match", [
    ({"nojobs": []}, "no 'jobs' key"),
    ({"jobs": "x"}, "must be a list"),
    ({"jobs": [{"Name": "X", "DateSubmitted": "2023-01-02 03:04:05"}]}, "JobID"),
    ({"jobs": [{"JobID": "abc", "DateSubmitted": "2023-01-02 03:04:05"}]}, "not an integer"),
    ({"jobs": [{"JobID": 1, "DateSubmitted": "yesterday"}]}, "DateSubmitted"),
    ({"jobs": [{"JobID": 1, "DateSubmitted": "2023-01-02 03:04:05", "Image": "maybe"}]}, "Image"),
    ({"OK": 0, "ERROR": "The user `x` is not recognised / validated"}, "not recognised"),
    ("<html>Server error</html>", "neither JSON"),
    ("{not json", "not valid JSON"),
    (42, "expected a dict"),
])
def test_malformed_input_raises_reader_error(data, match):
    with pytest.raises(ReaderError, match=match):
        read_job_list(data)
