import pytest

from bot import http


@pytest.fixture(autouse=True)
def images_from_a_loopback_feed():
    """Adapters here are called directly, as the deliverer would for a post of a loopback feed:
    the fakes serve images on 127.0.0.1, which only such a feed may name."""
    with http.images_for("http://127.0.0.1/feed.xml"):
        yield
