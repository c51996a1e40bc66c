"""The LinkedIn adapter against the fake LinkedIn in tests/fakes/linkedin.py, over real HTTP."""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from bot.config import settings_from
from bot.models import Message
from bot.platforms.base import (
    AuthError,
    DuplicateError,
    PermanentError,
    RateLimited,
    TransientError,
    create_platform,
)
from bot.platforms import linkedin
from bot.platforms.linkedin import LinkedInPlatform
from tests.fakes.linkedin import (  # noqa: F401  (fake_linkedin is a fixture)
    MEMBER_SUB,
    ORG_TOKEN,
    PNG_BYTES,
    TOKEN,
    fake_linkedin,
    little_truncate,
)

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc)
NEXT_MIDNIGHT = datetime(2026, 11, 27, tzinfo=timezone.utc)
VERSION = "202607"
PERSON = f"urn:li:person:{MEMBER_SUB}"
ORGANIZATION = "urn:li:organization:2414183"
TRICKY_TITLE = "C++ (part #2) [draft] <b> _x_ ~y~ @z"
ARTICLE = "https://blog.example.com/2026/11/cpp-part-2"


def escape(text: str) -> str:
    """LinkedIn's little-format escaping, as its text rules apply it."""
    return linkedin.linkedin_escape(text)


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def make(fake, **overrides) -> LinkedInPlatform:
    options = dict(access_token=TOKEN, author=PERSON, base_url=fake.base_url, version=VERSION,
                   token_expires=date(2026, 12, 1), timeout=2.0, clock=lambda: NOW)
    options.update(overrides)
    return LinkedInPlatform(**options)


def message(text: str | None = None, *, image_url: str | None = None, link: str = ARTICLE) -> Message:
    text = escape(TRICKY_TITLE) if text is None else text
    return Message(network="linkedin", text=text, link=link, post_url=ARTICLE, title=TRICKY_TITLE,
                   description="Templates, (parentheses) and #hashes in a plain card description.",
                   image_url=image_url, length=len(text), limit=3000)


# ── publishing ──────────────────────────────────────────────────────────


def test_escaped_commentary_arrives_whole_as_an_article_with_thumbnail(fake_linkedin):
    sent = message(image_url=fake_linkedin.image_url("ok.png"))

    published = make(fake_linkedin).publish(sent)

    [post] = fake_linkedin.posts
    assert post["commentary"] == sent.text
    assert unescape(post["commentary"]) == TRICKY_TITLE
    assert published.remote_id == post["id"]
    assert published.url == f"https://www.linkedin.com/feed/update/{post['id']}/"
    article = post["content"]["article"]
    assert article["source"] == ARTICLE
    assert article["title"] == TRICKY_TITLE              # plain text: the card is not little format
    assert article["description"] == sent.description
    assert fake_linkedin.images[article["thumbnail"]] == PNG_BYTES
    assert post["author"] == PERSON
    assert post["visibility"] == "PUBLIC"
    assert post["lifecycleState"] == "PUBLISHED"
    assert post["isReshareDisabledByAuthor"] is False
    assert post["distribution"] == {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                                    "thirdPartyDistributionChannels": []}


def test_the_fake_cuts_unescaped_commentary_like_linkedin(fake_linkedin):
    # The control for the test above: without escaping, LinkedIn keeps only "C++ ".
    make(fake_linkedin).publish(message(TRICKY_TITLE))

    assert fake_linkedin.posts[0]["commentary"] == "C++ "


@pytest.mark.parametrize("commentary, stored", [
    ("plain text, no reserved characters.", "plain text, no reserved characters."),
    ("cut (here", "cut "),
    (r"kept \(here\)", r"kept \(here\)"),
    ("a #hashtag stays", "a #hashtag stays"),
    ("a lone # cuts", "a lone "),
    ("hi @[Example Page](urn:li:person:1234) there", "hi @[Example Page](urn:li:person:1234) there"),
    (r"{hashtag|\#|MyTag} ok", r"{hashtag|\#|MyTag} ok"),
    ("snake_case", "snake"),
    ("trailing \\", "trailing "),
])
def test_little_format_truncation_in_the_fake(commentary, stored):
    assert little_truncate(commentary) == stored


def test_post_without_link_has_no_content(fake_linkedin):
    make(fake_linkedin).publish(message("Just words.", link=""))

    assert "content" not in fake_linkedin.posts[0]


def test_sends_the_three_headers_linkedin_requires(fake_linkedin):
    # The fake answers 401/400/426 when any is missing or wrong; a 201 proves all three.
    make(fake_linkedin).publish(message())

    assert fake_linkedin.requests == [("POST", "/rest/posts")]


def test_duplicate_carries_the_existing_urn(fake_linkedin):
    platform = make(fake_linkedin)
    first = platform.publish(message())

    with pytest.raises(DuplicateError) as caught:
        platform.publish(message())

    assert caught.value.remote_id == first.remote_id
    assert caught.value.remote_url == first.url
    assert len(fake_linkedin.posts) == 1


def test_find_existing_is_unknown(fake_linkedin):
    assert make(fake_linkedin).find_existing(ARTICLE) is None
    assert fake_linkedin.requests == []


# ── errors ──────────────────────────────────────────────────────────────


def test_expired_token_says_when_and_what_to_do(fake_linkedin):
    fake_linkedin.fail_next(401)

    with pytest.raises(AuthError) as caught:
        make(fake_linkedin).publish(message())

    text = str(caught.value)
    assert "token expired on 2026-12-01" in text
    assert "autopost auth linkedin" in text and "LINKEDIN_ACCESS_TOKEN" in text
    assert caught.value.status == 401
    assert caught.value.code == "EXPIRED_ACCESS_TOKEN"


def test_revoked_now_fixed_later(fake_linkedin):
    platform = make(fake_linkedin)
    fake_linkedin.revoke()

    with pytest.raises(AuthError, match="revoked"):
        platform.publish(message())
    with pytest.raises(AuthError, match="revoked"):
        platform.verify()

    fake_linkedin.restore()
    assert platform.publish(message()).remote_id == fake_linkedin.posts[0]["id"]


def test_wrong_token_is_an_auth_error(fake_linkedin):
    with pytest.raises(AuthError, match="Invalid access token"):
        make(fake_linkedin, access_token="not-the-token").publish(message())


@pytest.mark.parametrize("author, permission", [
    (PERSON, "w_member_social"),
    (ORGANIZATION, "w_organization_social"),
])
def test_forbidden_names_the_missing_permission(fake_linkedin, author, permission):
    fake_linkedin.fail_next(403, path="/rest/posts")

    with pytest.raises(AuthError) as caught:
        make(fake_linkedin, author=author, access_token=org_token_for(author)).publish(message())

    assert permission in str(caught.value)
    assert "Not enough permissions" in str(caught.value)     # LinkedIn's own words survive


def org_token_for(author: str) -> str:
    return ORG_TOKEN if author.startswith("urn:li:organization:") else TOKEN


@pytest.mark.parametrize("author, token", [
    ("urn:li:organization:999", ORG_TOKEN),             # no role on that Page
    ("urn:li:organization:5515715", ORG_TOKEN),         # ANALYST: may not post
    (ORGANIZATION, TOKEN),                              # a member app's token: no w_organization_social
])
def test_posting_as_a_page_we_may_not_post_as_is_forbidden(fake_linkedin, author, token):
    with pytest.raises(AuthError, match="w_organization_social"):
        make(fake_linkedin, author=author, access_token=token).publish(message())
    assert fake_linkedin.posts == []


def test_daily_throttle_waits_for_midnight_utc(fake_linkedin):
    fake_linkedin.fail_next(429)

    with pytest.raises(RateLimited) as caught:
        make(fake_linkedin).publish(message())

    assert caught.value.retry_at == NEXT_MIDNIGHT


@pytest.mark.parametrize("retry_after, expected", [
    ("120", NOW + timedelta(seconds=120)),
    ("Thu, 26 Nov 2026 18:00:00 GMT", datetime(2026, 11, 26, 18, 0, tzinfo=timezone.utc)),
])
def test_retry_after_wins_over_midnight(fake_linkedin, retry_after, expected):
    fake_linkedin.fail_next(429, headers={"Retry-After": retry_after})

    with pytest.raises(RateLimited) as caught:
        make(fake_linkedin).publish(message())

    assert caught.value.retry_at == expected


def test_retired_version_is_permanent_and_says_so(fake_linkedin):
    with pytest.raises(PermanentError) as caught:
        make(fake_linkedin, version="202401").publish(message())

    text = str(caught.value)
    assert "202401" in text and "retired" in text and "LINKEDIN_VERSION" in text
    assert caught.value.status == 426


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(fake_linkedin, status):
    fake_linkedin.fail_next(status)

    with pytest.raises(TransientError):
        make(fake_linkedin).publish(message())
    assert fake_linkedin.posts == []


def test_server_error_with_html_body_is_transient(fake_linkedin):
    fake_linkedin.fail_next(502, body="<html>Bad Gateway</html>")

    with pytest.raises(TransientError, match="502"):
        make(fake_linkedin).publish(message())


def test_hang_is_transient(fake_linkedin):
    fake_linkedin.hang_next()

    with pytest.raises(TransientError, match="timed out"):
        make(fake_linkedin, timeout=0.3).publish(message())


def test_garbage_answer_is_transient(fake_linkedin):
    fake_linkedin.garbage_next()

    with pytest.raises(TransientError, match="without a post id"):
        make(fake_linkedin).publish(message())


def test_connection_refused_is_transient(fake_linkedin):
    base = fake_linkedin.base_url
    fake_linkedin.close()

    with pytest.raises(TransientError):
        make(fake_linkedin, base_url=base).publish(message())


@pytest.mark.parametrize("status, body, expected", [
    (400, {"status": 400, "code": "ILLEGAL_ARGUMENT", "message": "Syntax exception in path variables"},
     "Syntax exception in path variables"),
    (404, None, "Not Found"),
    (422, {"status": 422, "code": "UNPROCESSABLE_ENTITY", "message": "ERROR :: /commentary :: too long"},
     "ERROR :: /commentary :: too long"),
])
def test_other_client_errors_are_permanent_with_linkedins_message(fake_linkedin, status, body, expected):
    fake_linkedin.fail_next(status, body=body)

    with pytest.raises(PermanentError) as caught:
        make(fake_linkedin).publish(message())

    assert expected in str(caught.value)
    assert caught.value.status == status


def test_body_linkedin_would_reject_is_permanent(fake_linkedin):
    # Over 3000 characters: the composer should never send it, LinkedIn refuses it.
    with pytest.raises(PermanentError, match="commentary"):
        make(fake_linkedin).publish(message("x" * 3001))


# ── thumbnails ──────────────────────────────────────────────────────────


@pytest.mark.parametrize("name, steer, reason", [
    ("missing.png", None, "404"),
    ("huge.png", None, "over"),
    ("page.html", None, "text/html"),
    ("ok.png", lambda fake: fake.fail_next(500, path="/rest/images"), "server error 500"),
    ("ok.png", lambda fake: fake.fail_next(403, path="/rest/images"), "permission"),
    ("ok.png", lambda fake: fake.garbage_next(path="/rest/images"), "not a JSON object"),
    ("ok.png", lambda fake: fake.fail_next(500, path="/upload/"), "upload answered 500"),
    ("ok.png", lambda fake: fake.hang_next(path="/img/"), "within 0.3 s"),
])
def test_thumbnail_failure_still_posts(fake_linkedin, caplog, name, steer, reason):
    if steer:
        steer(fake_linkedin)
    caplog.set_level(logging.WARNING, logger="bot.platforms.linkedin")

    published = make(fake_linkedin, timeout=0.3).publish(message(image_url=fake_linkedin.image_url(name)))

    [post] = fake_linkedin.posts
    assert published.remote_id == post["id"]
    assert "thumbnail" not in post["content"]["article"]
    assert post["content"]["article"]["title"] == TRICKY_TITLE
    warning = caplog.text
    assert "without a thumbnail" in warning and reason in warning


def test_non_http_image_url_is_skipped(fake_linkedin, caplog):
    caplog.set_level(logging.WARNING, logger="bot.platforms.linkedin")

    make(fake_linkedin).publish(message(image_url="file:///etc/passwd"))

    assert "thumbnail" not in fake_linkedin.posts[0]["content"]["article"]
    assert "not http(s)" in caplog.text


def test_image_owner_is_the_author(fake_linkedin):
    make(fake_linkedin, author=ORGANIZATION, access_token=ORG_TOKEN).publish(message(image_url=fake_linkedin.image_url()))

    [post] = fake_linkedin.posts
    assert post["author"] == ORGANIZATION
    assert post["content"]["article"]["thumbnail"] in fake_linkedin.images


# ── author, verify, token expiry ────────────────────────────────────────


def test_author_is_derived_from_userinfo_once_and_logged(fake_linkedin, caplog):
    caplog.set_level(logging.INFO, logger="bot.platforms.linkedin")
    platform = make(fake_linkedin, author="")

    platform.publish(message())
    platform.publish(message(escape("Another post")))

    assert [p["author"] for p in fake_linkedin.posts] == [PERSON, PERSON]
    assert fake_linkedin.requests.count(("GET", "/v2/userinfo")) == 1
    assert f"posting as {PERSON}" in caplog.text


def test_verify_person_names_the_member(fake_linkedin):
    assert make(fake_linkedin).verify() == f"Example Member ({PERSON})"


def test_verify_without_author_derives_it(fake_linkedin):
    assert make(fake_linkedin, author="").verify() == f"Example Member ({PERSON})"
    assert fake_linkedin.requests == [("GET", "/v2/userinfo")]


# ── posting as a Page with a Community Management API token ─────────────


def test_the_fake_refuses_what_linkedin_refuses_a_community_management_token(fake_linkedin):
    # No openid on such an app; the Page lookup needs rw_organization_admin.
    page = make(fake_linkedin, author="", access_token=ORG_TOKEN)
    fake_linkedin.token_scopes[ORG_TOKEN] = {"w_organization_social"}
    with pytest.raises(AuthError) as caught:
        page._userinfo()
    assert caught.value.status == 403 and "userinfo" in caught.value.message
    with pytest.raises(AuthError) as caught:
        page._request("GET", "/rest/organizations/2414183", permission="rw_organization_admin")
    assert caught.value.status == 403


def test_verify_a_page_asks_the_acl_finder_not_the_organization_lookup(fake_linkedin):
    page = make(fake_linkedin, author=ORGANIZATION, access_token=ORG_TOKEN)

    assert page.verify() == f"{ORGANIZATION} (you are ADMINISTRATOR of the Page)"

    [(method, path)] = fake_linkedin.requests
    assert method == "GET" and path.startswith("/rest/organizationAcls?q=roleAssignee&state=APPROVED")


def test_a_page_verified_with_w_organization_social_alone_is_not_blocked(fake_linkedin):
    # The ACL finder needs rw_organization_admin: its 403 proves a live token, not a missing role.
    fake_linkedin.token_scopes[ORG_TOKEN] = {"w_organization_social"}
    page = make(fake_linkedin, author=ORGANIZATION, access_token=ORG_TOKEN)

    assert "not checked" in page.verify() and "rw_organization_admin" in page.verify()
    page.publish(message())
    assert [p["author"] for p in fake_linkedin.posts] == [ORGANIZATION]
    assert not any(path.startswith(("/v2/userinfo", "/rest/organizations/")) for _, path in fake_linkedin.requests)


@pytest.mark.parametrize("author, words", [
    ("urn:li:organization:5515715", "only ANALYST on urn:li:organization:5515715"),
    ("urn:li:organization:999", "no role on urn:li:organization:999"),
])
def test_verify_a_page_without_a_posting_role_blocks_and_names_the_pages_we_may_post_as(
        fake_linkedin, author, words):
    with pytest.raises(AuthError) as caught:
        make(fake_linkedin, author=author, access_token=ORG_TOKEN).verify()
    assert words in caught.value.message
    assert f"you may post as {ORGANIZATION}" in caught.value.message


def test_verify_a_page_with_a_revoked_token_is_an_auth_error(fake_linkedin):
    fake_linkedin.revoke()
    with pytest.raises(AuthError, match="revoked"):
        make(fake_linkedin, author=ORGANIZATION, access_token=ORG_TOKEN).verify()


def test_without_author_a_community_token_posts_as_its_one_page(fake_linkedin, caplog):
    caplog.set_level(logging.INFO, logger="bot.platforms.linkedin")
    page = make(fake_linkedin, author="", access_token=ORG_TOKEN)

    page.publish(message())

    assert [p["author"] for p in fake_linkedin.posts] == [ORGANIZATION]
    assert f"posting as {ORGANIZATION}" in caplog.text


def test_without_author_a_token_for_two_pages_asks_which(fake_linkedin):
    fake_linkedin.roles["5515715"] = "CONTENT_ADMINISTRATOR"
    with pytest.raises(AuthError) as caught:
        make(fake_linkedin, author="", access_token=ORG_TOKEN).publish(message())
    assert f"set LINKEDIN_AUTHOR to one of {ORGANIZATION}, urn:li:organization:5515715" in caught.value.message
    assert fake_linkedin.posts == []


def test_verify_garbage_is_transient(fake_linkedin):
    fake_linkedin.garbage_next()

    with pytest.raises(TransientError):
        make(fake_linkedin).verify()


@pytest.mark.parametrize("today, expected", [
    (date(2026, 11, 23), None),
    (date(2026, 11, 24), "LinkedIn token expires in 7 days (2026-12-01): run `autopost auth linkedin`"),
    (date(2026, 11, 26), "LinkedIn token expires in 5 days (2026-12-01): run `autopost auth linkedin`"),
    (date(2026, 11, 30), "LinkedIn token expires in 1 day (2026-12-01): run `autopost auth linkedin`"),
    (date(2026, 12, 1), "LinkedIn token expires today (2026-12-01): run `autopost auth linkedin`"),
    (date(2026, 12, 9), "LinkedIn token expired on 2026-12-01: run `autopost auth linkedin`"),
])
def test_token_expiry_warning(fake_linkedin, today, expected):
    assert make(fake_linkedin).token_expiry_warning(today) == expected


def test_no_expiry_date_no_warning(fake_linkedin):
    assert make(fake_linkedin, token_expires=None).token_expiry_warning(date(2026, 12, 1)) is None


def test_expired_token_without_a_known_date(fake_linkedin):
    fake_linkedin.fail_next(401)

    with pytest.raises(AuthError) as caught:
        make(fake_linkedin, token_expires=None).publish(message())

    assert "token expired — run `autopost auth linkedin`" in str(caught.value)


# ── settings and secrets ────────────────────────────────────────────────


def test_from_settings_talks_to_the_configured_base(fake_linkedin):
    settings = settings_from({
        "AUTOPOST_FEEDS": "https://blog.example.com/feed.xml",
        "LINKEDIN_ACCESS_TOKEN": TOKEN,
        "LINKEDIN_API_BASE": fake_linkedin.base_url + "/",
        "LINKEDIN_VERSION": VERSION,
        "LINKEDIN_TOKEN_EXPIRES": "2026-12-01",
    })

    platform = create_platform("linkedin", settings, clock=lambda: NOW)

    assert platform.name == "linkedin"
    assert platform.publish(message()).remote_id == fake_linkedin.posts[0]["id"]
    assert fake_linkedin.posts[0]["author"] == PERSON
    assert platform.token_expiry_warning(date(2026, 11, 26)).startswith("LinkedIn token expires in 5 days")


def test_token_never_appears_in_logs_errors_or_repr(fake_linkedin, caplog):
    caplog.set_level(logging.DEBUG)    # root: urllib3 and requests included
    platform = make(fake_linkedin, author="", timeout=0.3)
    seen: list[BaseException] = []

    platform.publish(message(image_url=fake_linkedin.image_url()))
    platform.verify()
    for steer in (lambda: fake_linkedin.fail_next(401), lambda: fake_linkedin.fail_next(403),
                  lambda: fake_linkedin.fail_next(429), lambda: fake_linkedin.fail_next(500),
                  lambda: fake_linkedin.hang_next(), lambda: fake_linkedin.garbage_next(),
                  lambda: None):                                     # the last one: a duplicate
        steer()
        try:
            platform.publish(message())
        except Exception as exc:   # noqa: BLE001 - every error is inspected below
            seen.append(exc)
    with pytest.raises(PermanentError) as retired:
        make(fake_linkedin, version="202401").publish(message())
    seen.append(retired.value)

    assert len(seen) == 8
    assert "DEBUG" in caplog.text and "/rest/posts" in caplog.text   # the log did record calls
    assert TOKEN not in caplog.text
    for exc in seen:
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)
        assert TOKEN not in repr(vars(exc))
    assert TOKEN not in repr(platform)
    assert "****" in repr(platform)
