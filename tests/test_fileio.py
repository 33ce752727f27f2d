# Licensed under a 3-clause BSD style license - see LICENSE
"""Every writer of the package writes atomically and never through a link (xrtprods_astro.fileio)."""
import errno
import os
import stat

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from xrtprods_astro import cli
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.fileio import atomic_write, chmod_private, open_append, write_table, write_text
from xrtprods_astro.request import ProductRequest


def _victim(tmp_path, name="victim"):
    victim = tmp_path / name
    victim.write_text("not yours\n")
    victim.chmod(0o644)
    return victim


def _untouched(victim):
    assert victim.read_text() == "not yours\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_atomic_write_replaces_a_link_and_never_writes_through_it(tmp_path):
    victim = _victim(tmp_path)
    target = tmp_path / "out" / "data.txt"
    target.parent.mkdir()
    target.symlink_to(victim)
    write_text(target, "mine\n")
    _untouched(victim)
    assert not target.is_symlink() and target.read_text() == "mine\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "data.txt"
    target.write_text("old\n")
    with pytest.raises(OSError, match="No space left"):
        with atomic_write(target, "w") as stream:
            stream.write("half of it")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["data.txt"]


def test_no_overwrite_refuses_an_existing_name_even_a_dangling_link(tmp_path):
    link = tmp_path / "out.txt"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError, match="out.txt exists"):
        write_text(link, "x", overwrite=False)
    assert not (tmp_path / "nowhere").exists() and link.is_symlink()
    fresh = write_text(tmp_path / "new.txt", "x", overwrite=False, private=False)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_append_and_chmod_refuse_a_link(tmp_path):
    victim = _victim(tmp_path)
    link = tmp_path / "journal"
    link.symlink_to(victim)
    with pytest.raises(OSError) as info:
        open_append(link)
    assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        chmod_private(link)
    _untouched(victim)
    regular = tmp_path / "archive.tar.gz"
    regular.write_bytes(b"x")
    regular.chmod(0o644)
    chmod_private(regular)
    assert stat.S_IMODE(regular.stat().st_mode) == 0o600


@pytest.mark.parametrize("fmt, name", [("ascii.ecsv", "t.ecsv"), ("fits", "t.fits")])
def test_write_table_round_trips(tmp_path, fmt, name):
    table = Table({"rate": [1.5, 2.5] * u.ct / u.s}, meta={"job_id": "1"})
    path = write_table(table, tmp_path / name, fmt)
    back = Table.read(path, format=fmt)
    assert list(back["rate"]) == [1.5, 2.5] and back["rate"].unit == u.ct / u.s


def test_a_saved_request_replaces_a_link_at_its_name(tmp_path):
    victim = _victim(tmp_path)
    link = tmp_path / "req.json"
    link.symlink_to(victim)
    ProductRequest(SkyCoord(10, 20, unit="deg"), name="x", standard_position=True).save(link, overwrite=True)
    _untouched(victim)
    assert not link.is_symlink()
    assert ProductRequest.load(link) == ProductRequest(SkyCoord(10, 20, unit="deg"), name="x",
                                                       standard_position=True)


def test_cli_output_never_writes_through_a_link(capsys, tmp_path, xrtprods_service):
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email, poll_interval=0.1)
    job = client.submit(ProductRequest(SkyCoord(335.6985, -7.5179, unit="deg"), name="GRB 200416A",
                                       get_targs=True, centroid=True, use_sxps=False, pos_err=1,
                                       standard_position=True))
    job.wait(timeout=60, progress=False)
    victim = _victim(tmp_path)
    output = tmp_path / "position.ecsv"
    output.symlink_to(victim)
    code = cli.main(["--server", xrtprods_service.url, "--email", xrtprods_service.email, "position",
                     str(job.job_id), "--output", str(output), "--overwrite"])
    assert code == 0, capsys.readouterr().err
    _untouched(victim)
    assert not output.is_symlink() and len(Table.read(output, format="ascii.ecsv")) == 1


def test_written_times_keep_their_microseconds(tmp_path):
    # Clock-corrected times are not whole milliseconds; ECSV writes a Time as text to its precision.
    from astropy.time import Time
    times = Time(["2020-04-16T07:05:17.171234", "2020-04-17T07:05:17.999876"], scale="utc")
    table = Table({"time": times, "rate": [1.0, 2.0]})
    write_table(table, tmp_path / "lc.ecsv", "ascii.ecsv")
    back = Table.read(tmp_path / "lc.ecsv")
    assert abs((back["time"] - times).to_value("s")).max() < 1e-6
    assert table["time"].precision == 3     # the caller's table is left as it was
