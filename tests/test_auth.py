"""`autopost auth` flows end to end against the fakes, over real HTTP on 127.0.0.1.

The browser step is simulated by the test itself: it opens the printed address
with requests, as the user's browser would (following LinkedIn's redirect to the
listener, reading X's PIN off the page). Then the stored tokens are loaded the
way `autopost check` loads them and verified against the same fakes.
"""
from __future__ import annotations

import socket
import stat
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.auth import AuthFlowError
from bot.platforms.facebook_auth import auth_facebook
from bot.platforms.linkedin_auth import auth_linkedin, linkedin_oauth_base
from bot.platforms.twitter_auth import auth_twitter
from bot.config import load_settings, read_env_file, settings_from
from bot.models import Message
from bot.platforms.base import create_platform
from tests.fakes.facebook import (
    APP_ID,
    APP_SECRET,
    LONG_USER_TOKEN,
    PAGE_ID,
    PAGE_NAME,
    PAGE_TOKEN,
    USER_TOKEN,
    FakeGraph,
)
from tests.fakes.linkedin import (
    CLIENT_ID,
    CLIENT_SECRET,
    MEMBER_SUB,
    ORG_TOKEN,
    TOKEN,
    FakeLinkedIn,
)
from tests.fakes.twitter import CREDENTIALS, FakeX
from tests.fakes.x_oauth import FakeXOAuth, read_pin

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
ENV_START = "# my autopost\nAUTOPOST_FEEDS=https://blog.example.com/feed.xml\n#TWITTER_ACCESS_TOKEN=old-commented\n"


class Terminal:
    """What the user sees (print_fn) and types (input_fn)."""

    def __init__(self, answers=()):
        self.lines: list[str] = []
        self.prompts: list[str] = []
        self.answers = list(answers)

    def print(self, *parts) -> None:
        self.lines.append(" ".join(str(p) for p in parts))

    def input(self, prompt: str) -> str:
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        return answer(self) if callable(answer) else answer

    @property
    def text(self) -> str:
        return "\n".join(self.lines + self.prompts)

    def url(self, marker: str) -> str:
        return next(line.strip() for line in self.lines if marker in line and line.strip().startswith("http"))


def assert_secret_free(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, "a secret was shown"


def make_env(tmp_path, extra: str = ""):
    env = tmp_path / "autopost.env"
    env.write_text(ENV_START + extra, encoding="utf-8")
    env.chmod(0o600)
    return env


def settings_for(env, **values):
    return settings_from({**read_env_file(env), **values}, env_file=env)


# ─────────────────────────────────────────────────────────────── X

@pytest.fixture
def x_fakes():
    api = FakeX()
    oauth = FakeXOAuth(api=api.base_url)           # one base URL: OAuth endpoints + the API behind
    yield oauth, api
    oauth.close()
    api.close()


def x_env(tmp_path, base: str, **overrides):
    keys = {"TWITTER_API_KEY": CREDENTIALS["api_key"], "TWITTER_API_SECRET": CREDENTIALS["api_secret"],
            "TWITTER_API_BASE": base, **overrides}
    return make_env(tmp_path, "".join(f"{k}={v}\n" for k, v in keys.items()))


def type_pin_from_the_page(terminal: Terminal) -> str:
    """The user opens the printed address, presses Authorize, and types the PIN shown."""
    page = requests.get(terminal.url("/oauth/authorize"), timeout=5)
    return read_pin(page.text) or ""


def test_twitter_pin_flow_stores_tokens_that_verify(tmp_path, x_fakes):
    oauth, api = x_fakes
    env = x_env(tmp_path, oauth.base_url)
    terminal = Terminal([type_pin_from_the_page])

    connected = auth_twitter(settings_for(env), env, input_fn=terminal.input, print_fn=terminal.print)

    assert connected.account == "@autopost_blog"
    stored = read_env_file(env)
    assert stored["TWITTER_ACCESS_TOKEN"] == CREDENTIALS["access_token"]
    assert stored["TWITTER_ACCESS_TOKEN_SECRET"] == CREDENTIALS["access_token_secret"]
    text = env.read_text(encoding="utf-8")
    assert text.startswith(ENV_START)                       # comments and the commented-out key untouched
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    authorize = urlsplit(terminal.url("/oauth/authorize"))
    assert f"{authorize.scheme}://{authorize.netloc}" == oauth.base_url
    assert [(r["method"], r["path"], r["status"]) for r in oauth.requests] == [
        ("POST", "/oauth/request_token", 200), ("GET", "/oauth/authorize", 200),
        ("POST", "/oauth/access_token", 200)]
    [request_token] = oauth.request_tokens
    assert_secret_free(terminal.text, CREDENTIALS["api_secret"], CREDENTIALS["access_token"],
                       CREDENTIALS["access_token_secret"], oauth.request_tokens[request_token]["secret"])

    # What `autopost check` does next, through the same base URL.
    assert create_platform("twitter", load_settings(str(env))).verify() == "@autopost_blog"
    assert api.requests[-1]["signed"] is True


def test_twitter_wrong_pin_is_refused_and_nothing_is_written(tmp_path, x_fakes):
    oauth, _ = x_fakes
    env = x_env(tmp_path, oauth.base_url)
    before = env.read_text(encoding="utf-8")
    terminal = Terminal(["0000000"])

    with pytest.raises(AuthFlowError, match="did not accept the PIN: HTTP 401"):
        auth_twitter(settings_for(env), env, input_fn=terminal.input, print_fn=terminal.print)

    assert env.read_text(encoding="utf-8") == before
    assert oauth.issued == 0


def test_twitter_cancelled_on_x_gives_no_pin(tmp_path, x_fakes):
    oauth, _ = x_fakes
    oauth.deny()
    env = x_env(tmp_path, oauth.base_url)
    terminal = Terminal([type_pin_from_the_page])          # the page shows no PIN: the user types nothing

    with pytest.raises(AuthFlowError, match="no PIN entered"):
        auth_twitter(settings_for(env), env, input_fn=terminal.input, print_fn=terminal.print)


def test_twitter_wrong_app_secret_fails_at_the_start_without_showing_it(tmp_path, x_fakes):
    oauth, _ = x_fakes
    env = x_env(tmp_path, oauth.base_url, TWITTER_API_SECRET="wrongSecretValue0123456789")
    terminal = Terminal()

    with pytest.raises(AuthFlowError) as caught:
        auth_twitter(settings_for(env), env, input_fn=terminal.input, print_fn=terminal.print)

    assert "HTTP 401" in str(caught.value) and "Could not authenticate you" in str(caught.value)
    assert "TWITTER_API_KEY and TWITTER_API_SECRET" in str(caught.value)
    assert_secret_free(str(caught.value) + terminal.text, "wrongSecretValue0123456789")
    assert terminal.prompts == []


def test_twitter_needs_the_app_keys_first(tmp_path):
    env = make_env(tmp_path)

    with pytest.raises(AuthFlowError, match="set TWITTER_API_KEY and TWITTER_API_SECRET"):
        auth_twitter(settings_for(env), env, input_fn=Terminal().input, print_fn=Terminal().print)


# ─────────────────────────────────────────────────────────────── LinkedIn

@pytest.fixture
def fake_linkedin():
    fake = FakeLinkedIn()
    yield fake
    fake.close()


def browser():
    """A browser that follows LinkedIn's redirect to the listener; keeps what it saw."""
    seen: list[requests.Response] = []

    def open_browser(url: str) -> None:
        seen.append(requests.get(url, timeout=5))
    open_browser.seen = seen
    return open_browser


def linkedin(env, fake, terminal, **options):
    options.setdefault("open_browser", browser())
    return auth_linkedin(settings_for(env, LINKEDIN_API_BASE=fake.base_url), env, client_id=CLIENT_ID,
                         client_secret=CLIENT_SECRET, print_fn=terminal.print, port=0, clock=lambda: NOW,
                         **options)


def test_linkedin_code_flow_stores_token_author_and_expiry(tmp_path, fake_linkedin):
    env = make_env(tmp_path, f"LINKEDIN_API_BASE={fake_linkedin.base_url}\n")
    terminal = Terminal()
    open_browser = browser()

    connected = linkedin(env, fake_linkedin, terminal, open_browser=open_browser)

    stored = read_env_file(env)
    assert stored["LINKEDIN_ACCESS_TOKEN"] == TOKEN
    assert stored["LINKEDIN_AUTHOR"] == f"urn:li:person:{MEMBER_SUB}"
    assert stored["LINKEDIN_TOKEN_EXPIRES"] == "2027-01-25"        # NOW + 5184000 s (60 days)
    assert connected.account == f"Example Member (urn:li:person:{MEMBER_SUB})"
    [asked] = fake_linkedin.authorizations
    assert asked["scope"] == "openid profile w_member_social"
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert len(asked["state"]) >= 32
    assert urlsplit(asked["redirect_uri"]).hostname == "127.0.0.1"
    assert asked["redirect_uri"].endswith("/callback")
    [form] = fake_linkedin.exchanges
    assert form["redirect_uri"] == asked["redirect_uri"] and form["client_secret"] == CLIENT_SECRET
    assert "connected to LinkedIn" in open_browser.seen[0].text
    assert any(path.startswith("/v2/userinfo") for _, path in fake_linkedin.requests)
    assert all("client_secret" not in path and "code=" not in path
               for method, path in fake_linkedin.requests if path.startswith("/oauth/v2/accessToken"))
    assert_secret_free(terminal.text, TOKEN, CLIENT_SECRET)
    assert "2027-01-25" in terminal.text and "autopost auth linkedin" in terminal.text

    # What `autopost check` does next.
    settings = load_settings(str(env))
    assert settings.network("linkedin").token_expires == date(2027, 1, 25)
    assert create_platform("linkedin", settings).verify() == f"Example Member (urn:li:person:{MEMBER_SUB})"


def test_linkedin_page_uses_only_community_management_scopes_and_no_userinfo(tmp_path, fake_linkedin):
    fake_linkedin.community_app()      # the Community Management API must be alone on its app
    env = make_env(tmp_path, f"LINKEDIN_API_BASE={fake_linkedin.base_url}\n")
    terminal = Terminal()

    connected = linkedin(env, fake_linkedin, terminal, organization="urn:li:organization:2414183")

    assert fake_linkedin.authorizations[0]["scope"] == "w_organization_social rw_organization_admin"
    stored = read_env_file(env)
    assert stored["LINKEDIN_AUTHOR"] == "urn:li:organization:2414183"
    assert stored["LINKEDIN_ACCESS_TOKEN"] == ORG_TOKEN
    assert connected.account == "organization 2414183: urn:li:organization:2414183 (you are ADMINISTRATOR of the Page)"
    assert not any(path.startswith(("/v2/userinfo", "/rest/organizations/")) for _, path in fake_linkedin.requests)
    assert_secret_free(terminal.text, ORG_TOKEN, CLIENT_SECRET)

    # What `autopost check` and the service do next: verify, then post as the Page.
    platform = create_platform("linkedin", load_settings(str(env)))
    assert "ADMINISTRATOR" in platform.verify()
    platform.publish(Message(network="linkedin", text="Hello", link="https://blog.example.com/1/",
                             post_url="https://blog.example.com/1/"))
    assert [p["author"] for p in fake_linkedin.posts] == ["urn:li:organization:2414183"]


def test_linkedin_page_renewal_keeps_the_page_flow(tmp_path, fake_linkedin):
    fake_linkedin.community_app()
    env = make_env(tmp_path, f"LINKEDIN_API_BASE={fake_linkedin.base_url}\n"
                             f"LINKEDIN_AUTHOR=urn:li:organization:2414183\n")

    linkedin(env, fake_linkedin, Terminal())          # no --organization: the env file says which Page

    assert fake_linkedin.authorizations[0]["scope"] == "w_organization_social rw_organization_admin"
    assert read_env_file(env)["LINKEDIN_AUTHOR"] == "urn:li:organization:2414183"


def test_linkedin_page_on_a_member_app_says_which_app_is_needed(tmp_path, fake_linkedin):
    env = make_env(tmp_path)           # the default fake app: Share on LinkedIn + OpenID Connect

    with pytest.raises(AuthFlowError) as caught:
        linkedin(env, fake_linkedin, Terminal(), organization="2414183")
    assert 'Scope "w_organization_social" is not authorized' in str(caught.value)
    assert "only product is the Community Management API" in str(caught.value)
    assert fake_linkedin.exchanges == []


def test_linkedin_page_the_member_may_not_post_as_saves_nothing(tmp_path, fake_linkedin):
    fake_linkedin.community_app()
    env = make_env(tmp_path)
    before = env.read_text(encoding="utf-8")

    with pytest.raises(AuthFlowError) as caught:
        linkedin(env, fake_linkedin, Terminal(), organization="5515715")      # ANALYST there

    assert "cannot post as Page 5515715" in str(caught.value) and "only ANALYST" in str(caught.value)
    assert env.read_text(encoding="utf-8") == before


def test_linkedin_scope_the_app_lacks_is_reported(tmp_path, fake_linkedin):
    fake_linkedin.granted_scopes.discard("w_member_social")
    env = make_env(tmp_path)

    with pytest.raises(AuthFlowError, match='Scope "w_member_social" is not authorized'):
        linkedin(env, fake_linkedin, Terminal())
    assert fake_linkedin.exchanges == []


def test_linkedin_cancelled_consent_saves_nothing(tmp_path, fake_linkedin):
    fake_linkedin.deny_authorization()
    env = make_env(tmp_path)
    before = env.read_text(encoding="utf-8")
    open_browser = browser()

    with pytest.raises(AuthFlowError, match="user_cancelled_authorize"):
        linkedin(env, fake_linkedin, Terminal(), open_browser=open_browser)

    assert fake_linkedin.exchanges == []
    assert env.read_text(encoding="utf-8") == before
    assert "did not authorise" in open_browser.seen[0].text


def test_linkedin_redirect_with_a_forged_state_is_refused(tmp_path, fake_linkedin):
    env = make_env(tmp_path)

    def forged(url: str) -> None:
        redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        page = requests.get(f"{redirect_uri}?code=AQstolen&state=forged", timeout=5)
        assert page.status_code == 400

    with pytest.raises(AuthFlowError, match="wrong or missing state"):
        linkedin(env, fake_linkedin, Terminal(), open_browser=forged)
    assert fake_linkedin.exchanges == []


def test_linkedin_wrong_client_secret_is_a_clear_error_without_it(tmp_path, fake_linkedin):
    env = make_env(tmp_path)
    terminal = Terminal()

    with pytest.raises(AuthFlowError) as caught:
        auth_linkedin(settings_for(env, LINKEDIN_API_BASE=fake_linkedin.base_url), env, client_id=CLIENT_ID,
                      client_secret="li-WRONG-secret-zz9", open_browser=browser(), print_fn=terminal.print,
                      port=0)

    assert "Client authentication failed" in str(caught.value) and "Client Secret" in str(caught.value)
    assert_secret_free(str(caught.value) + terminal.text, "li-WRONG-secret-zz9")
    assert "LINKEDIN_ACCESS_TOKEN" not in read_env_file(env)


def test_linkedin_gives_up_when_the_browser_never_comes_back(tmp_path, fake_linkedin):
    env = make_env(tmp_path)

    with pytest.raises(AuthFlowError, match="did not send the browser back.*ssh -L"):
        linkedin(env, fake_linkedin, Terminal(), open_browser=lambda url: None, wait_seconds=0.1)


def test_linkedin_busy_port_says_what_to_do(tmp_path, fake_linkedin):
    env = make_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(AuthFlowError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            auth_linkedin(settings_for(env), env, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          open_browser=browser(), print_fn=Terminal().print, port=port)


def test_linkedin_oauth_base_is_www_linkedin_for_the_real_api():
    real = settings_from({"AUTOPOST_FEEDS": "f.xml"})
    fake = settings_from({"AUTOPOST_FEEDS": "f.xml", "LINKEDIN_API_BASE": "http://127.0.0.1:9"})
    gateway = settings_from({"AUTOPOST_FEEDS": "f.xml", "LINKEDIN_API_BASE": "https://li-gw.example.com"})

    assert linkedin_oauth_base(real) == "https://www.linkedin.com"
    assert linkedin_oauth_base(gateway) == "https://www.linkedin.com"
    assert linkedin_oauth_base(fake) == "http://127.0.0.1:9"
    assert linkedin_oauth_base(real, "https://oauth-gw.example.com/") == "https://oauth-gw.example.com"
    with pytest.raises(AuthFlowError, match="LINKEDIN_OAUTH_BASE"):
        linkedin_oauth_base(real, "http://oauth-gw.example.com")


# ─────────────────────────────────────────────────────────────── Facebook

@pytest.fixture
def graph():
    fake = FakeGraph(app_secret=APP_SECRET)        # every Graph call must carry appsecret_proof
    yield fake
    fake.close()


def facebook(env, graph, terminal, **options):
    options.setdefault("user_token", USER_TOKEN)
    return auth_facebook(settings_for(env, FACEBOOK_GRAPH_BASE=graph.base_url), env,
                         input_fn=terminal.input, print_fn=terminal.print, **options)


def test_facebook_exchange_and_single_page_store_a_page_token_that_verifies(tmp_path, graph):
    env = make_env(tmp_path, f"FACEBOOK_GRAPH_BASE={graph.base_url}\n")
    terminal = Terminal()

    connected = facebook(env, graph, terminal, app_id=APP_ID, app_secret=APP_SECRET)

    stored = read_env_file(env)
    assert (stored["FACEBOOK_PAGE_ID"], stored["FACEBOOK_PAGE_TOKEN"]) == (PAGE_ID, PAGE_TOKEN)
    assert (stored["FACEBOOK_APP_ID"], stored["FACEBOOK_APP_SECRET"]) == (APP_ID, APP_SECRET)
    assert connected.account == f"{PAGE_NAME} ({PAGE_ID})"
    assert terminal.prompts == []                            # one Page: nothing to choose
    exchange, accounts = graph.requests
    assert exchange.method == "POST" and exchange.path == "/v25.0/oauth/access_token"
    assert exchange.form == {"grant_type": "fb_exchange_token", "client_id": APP_ID,
                             "client_secret": APP_SECRET, "fb_exchange_token": USER_TOKEN}
    assert accounts.path == "/v25.0/me/accounts" and accounts.form["access_token"] == LONG_USER_TOKEN
    assert accounts.form["method"] == "GET" and "appsecret_proof" in accounts.form
    for request in graph.requests:                           # no secret ever in a URL
        assert_secret_free(request.path, USER_TOKEN, LONG_USER_TOKEN, APP_SECRET, PAGE_TOKEN)
    assert_secret_free(terminal.text, USER_TOKEN, LONG_USER_TOKEN, APP_SECRET, PAGE_TOKEN)

    # What `autopost check` does next (with appsecret_proof, as FACEBOOK_APP_SECRET is now set).
    assert PAGE_NAME in create_platform("facebook", load_settings(str(env))).verify()


def test_facebook_user_picks_a_page_by_number_and_app_keys_already_set_stay(tmp_path, graph):
    graph.add_page("200000000000002", "Second Blog", "EAAG-fake-SECOND-page-token-9d")
    env = make_env(tmp_path, f"FACEBOOK_APP_ID={APP_ID}\nFACEBOOK_APP_SECRET={APP_SECRET}  # from the dashboard\n")
    before = env.read_text(encoding="utf-8")
    terminal = Terminal(["three", "7", "2"])

    facebook(env, graph, terminal)

    stored = read_env_file(env)
    assert (stored["FACEBOOK_PAGE_ID"], stored["FACEBOOK_PAGE_TOKEN"]) == (
        "200000000000002", "EAAG-fake-SECOND-page-token-9d")
    assert env.read_text(encoding="utf-8").startswith(before)   # app keys line kept byte for byte
    assert "1. Autopost Test Page" in terminal.text and "2. Second Blog" in terminal.text
    assert len(terminal.prompts) == 3


def test_facebook_no_valid_choice_saves_nothing(tmp_path, graph):
    graph.add_page("200000000000002", "Second Blog", "EAAG-fake-SECOND-page-token-9d")
    env = make_env(tmp_path)
    before = env.read_text(encoding="utf-8")

    with pytest.raises(AuthFlowError, match="no Page chosen"):
        facebook(env, graph, Terminal(["", "0", "9"]), app_id=APP_ID, app_secret=APP_SECRET)
    assert env.read_text(encoding="utf-8") == before


def test_facebook_page_without_create_content_is_flagged(tmp_path, graph):
    graph.pages[0]["tasks"] = ["ANALYZE"]
    env = make_env(tmp_path)
    terminal = Terminal()

    facebook(env, graph, terminal, app_id=APP_ID, app_secret=APP_SECRET)

    assert "cannot post here (no CREATE_CONTENT task)" in terminal.text


@pytest.mark.parametrize("change, expected", [
    ({"app_secret": "fb-WRONG-secret-00"}, "Error validating client secret. (code 1). Check FACEBOOK_APP_SECRET"),
    ({"app_id": "999"}, "Invalid application ID. (code 101). Check FACEBOOK_APP_ID"),
    ({"user_token": "EAAG-expired-user-token-77"}, "(code 190). The user token is invalid or expired"),
])
def test_facebook_exchange_errors_name_the_fix_and_hide_the_secrets(tmp_path, graph, change, expected):
    env = make_env(tmp_path)
    options = {"app_id": APP_ID, "app_secret": APP_SECRET, **change}

    with pytest.raises(AuthFlowError) as caught:
        facebook(env, graph, Terminal(), **options)

    assert expected in str(caught.value)
    assert_secret_free(str(caught.value), "fb-WRONG-secret-00", APP_SECRET, "EAAG-expired-user-token-77")
    assert "FACEBOOK_PAGE_TOKEN" not in read_env_file(env)


def test_facebook_user_without_pages_is_told_which_permissions(tmp_path, graph):
    graph.pages.clear()
    env = make_env(tmp_path)

    with pytest.raises(AuthFlowError, match="pages_show_list"):
        facebook(env, graph, Terminal(), app_id=APP_ID, app_secret=APP_SECRET)


def test_facebook_needs_the_app_id_and_secret(tmp_path, graph):
    env = make_env(tmp_path)

    with pytest.raises(AuthFlowError, match="FACEBOOK_APP_ID and FACEBOOK_APP_SECRET"):
        facebook(env, graph, Terminal())


def test_no_flow_logs_a_secret_even_at_debug(tmp_path, x_fakes, fake_linkedin, graph, caplog):
    oauth, _ = x_fakes
    caplog.set_level("DEBUG", logger="bot")
    (tmp_path / "x").mkdir()
    x = x_env(tmp_path / "x", oauth.base_url)
    terminal = Terminal([type_pin_from_the_page])
    auth_twitter(settings_for(x), x, input_fn=terminal.input, print_fn=terminal.print)
    (tmp_path / "li").mkdir()
    li = make_env(tmp_path / "li")
    linkedin(li, fake_linkedin, Terminal())
    (tmp_path / "fb").mkdir()
    fb = make_env(tmp_path / "fb")
    facebook(fb, graph, Terminal(), app_id=APP_ID, app_secret=APP_SECRET)

    logged = caplog.text
    assert "POST" in logged                                  # the flows did log their calls
    assert_secret_free(logged, *CREDENTIALS.values(), TOKEN, CLIENT_SECRET, USER_TOKEN, LONG_USER_TOKEN,
                       APP_SECRET, PAGE_TOKEN)
