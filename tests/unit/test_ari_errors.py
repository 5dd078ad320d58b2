from __future__ import annotations

import pytest

from callcenter.ari.errors import (
    AriConflict,
    AriError,
    AriHttpError,
    AriNotFound,
    http_error,
)
from callcenter.errors import CallCenterError

PATH = "/ari/channels/1732822800.42/play"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, AriNotFound),
        (409, AriConflict),
        (412, AriConflict),
        (400, AriHttpError),
        (401, AriHttpError),
        (422, AriHttpError),
        (500, AriHttpError),
        (503, AriHttpError),
    ],
)
def test_http_error_picks_class_by_status(status, cls):
    exc = http_error(status, "POST", PATH, "Channel not found")
    assert type(exc) is cls


def test_http_error_keeps_request_details_in_attributes_and_message():
    exc = http_error(404, "POST", PATH, "Channel not found")
    assert (exc.status, exc.method, exc.path, exc.message) == (
        404,
        "POST",
        PATH,
        "Channel not found",
    )
    assert str(exc) == f"POST {PATH} -> 404: Channel not found"


def test_ari_errors_are_catchable_as_call_centre_errors():
    exc = http_error(409, "DELETE", "/ari/bridges/b-1", "Bridge not in Stasis application")
    assert isinstance(exc, AriHttpError)
    assert isinstance(exc, AriError)
    assert isinstance(exc, CallCenterError)
