"""The console with its database down: sign-in and pages answer 503 with Retry-After and the cause, as an
HTML page (the console's dialect), and work again once it is back."""

from __future__ import annotations

from core import auth
from core.app import create_app
from tests.faults import free_port
from tests.plugins.console.helpers import COOKIE, csrf_of, signed_in


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "503" in page and "database" in page.lower()


def test_database_down_is_a_503_page_with_retry_after(app, client, new_key, redis_url):
    token = new_key()
    signed_in(client, token)
    cookie = client.get_cookie(COOKIE).value
    # The same data_dir (server key), so the same cookie; a PostgreSQL that does not answer.
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    data_dir = app.extensions["mediaplane"].config["core"]["data_dir"]
    broken = create_app(
        config={"core": {"data_dir": data_dir, "database_url": down, "redis_url": redis_url}}, environ={}
    ).test_client()
    broken.set_cookie(COOKIE, cookie)
    auth._key_cache.clear()  # as in another process, which has not seen the key yet
    for path in ("/console/", "/console/report/rooms", "/console/rtcstats/sessions"):
        assert_unavailable(broken.get(path))
    anonymous = create_app(
        config={"core": {"data_dir": data_dir, "database_url": down, "redis_url": redis_url}}, environ={}
    ).test_client()
    form = {"api_key": token, "csrf_token": csrf_of(anonymous), "next": "/console/"}
    assert_unavailable(anonymous.post("/console/sign-in", data=form))
