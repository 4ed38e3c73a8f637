"""The Atlas client's configuration and plumbing, on both clients: settings and the
environment, region discovery, projects, typed errors, raw responses, hooks and logs."""

from __future__ import annotations

import logging
import uuid
from typing import Any, List

import httpx
import pytest
from atlas_client_support import (
    CLIENT_SECRET,
    INSTANCE,
    MANAGEMENT,
    PROJECT,
    REGIONS,
    AtlasHarness,
    answer,
)

from fluidstack.atlas import AsyncAtlas, Atlas, Instance, InstanceState
from fluidstack.core import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    EventHooks,
    InsecureTransportWarning,
    InternalServerError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RawResponse,
    UnknownRegionError,
)
from support import resolve

pytestmark = pytest.mark.anyio

# -- settings --------------------------------------------------------------------------


def test_production_defaults() -> None:
    atlas = Atlas(client_id="id", client_secret="secret")
    assert atlas.management_url == "https://api.atlas.fluidstack.io/api/v1alpha1"
    assert atlas.token_url == "https://oauth.fluidstack.io/oauth/token"
    assert atlas.region is None
    assert atlas.project_id is None
    assert atlas.max_retries == 2
    assert atlas.timeout.read == 60
    atlas.close()


def test_every_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    project = str(uuid.uuid4())
    env = {
        "FLUIDSTACK_CLIENT_ID": "env-id",
        "FLUIDSTACK_CLIENT_SECRET": "env-secret",
        "FLUIDSTACK_REGION": "r2",
        "FLUIDSTACK_PROJECT_ID": project.upper(),
        "FLUIDSTACK_ATLAS_URL": "https://mgmt.example/",
        "FLUIDSTACK_TOKEN_URL": "https://auth.example/oauth/token",
        "FLUIDSTACK_REGION_URL": "https://r2.example",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    atlas = Atlas()
    assert atlas.management_url == "https://mgmt.example/api/v1alpha1"
    assert atlas.token_url == "https://auth.example/oauth/token"
    assert atlas.region == "r2"
    assert atlas.project_id == project  # canonical form
    assert atlas._scope.region_api == "https://r2.example/api/v1alpha1"
    assert atlas._settings.client_id == "env-id"
    assert atlas._settings.client_secret is not None
    assert atlas._settings.client_secret.reveal() == "env-secret"
    atlas.close()


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUIDSTACK_REGION", "from-env")
    atlas = Atlas(token="t", region="from-argument")
    assert atlas.region == "from-argument"
    atlas.close()


def test_a_loopback_management_url_gets_its_own_token_endpoint() -> None:
    atlas = Atlas(token="t", management_url="http://127.0.0.1:8080")
    assert atlas.management_url == "http://127.0.0.1:8080/api/v1alpha1"
    assert atlas.token_url == "http://127.0.0.1:8080/oauth/token"
    atlas.close()


def test_a_remote_plain_http_url_warns_about_the_secret() -> None:
    with pytest.warns(InsecureTransportWarning, match="client secret"):
        Atlas(client_id="i", client_secret="s", token_url="http://auth.example/token").close()
    with pytest.warns(InsecureTransportWarning, match="access token"):
        Atlas(token="t", management_url="http://mgmt.example").close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project_id": "my-project"}, "must be a project's id"),
        ({"management_url": "mgmt.example"}, "management_url must be an http"),
        ({"region_url": "ftp://r"}, "region_url must be an http"),
        ({"client_secret": " "}, "client_secret is empty"),
        ({"token": "a\nb"}, "token contains a control character"),
        ({"audience": ""}, "audience"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_settings_are_refused_at_construction(kwargs: Any, message: str) -> None:
    kwargs.setdefault("client_id", "id")
    kwargs.setdefault("client_secret", "secret")
    with pytest.raises(ValueError, match=message):
        Atlas(**kwargs)


def test_uuid_objects_are_accepted_as_ids() -> None:
    project = uuid.uuid4()
    atlas = Atlas(token="t", project_id=project)
    assert atlas.project_id == str(project)
    assert atlas.with_options(project_id=None).project_id is None
    atlas.close()


# -- regions and projects ----------------------------------------------------------------


async def test_regions_are_discovered_once_and_url_prefixes_handled(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    for name in REGIONS:
        h.server.route("GET", h.server.region(name, "/instances"), answer(200, [INSTANCE]))
    atlas = h.client()
    await resolve(atlas.instances.list())
    await resolve(atlas.instances.list())
    r2 = atlas.with_options(region="r2")
    await resolve(r2.instances.list())
    paths = [str(r.url) for r in h.server.requests if r.headers.get("authorization")]
    assert paths == [
        MANAGEMENT + "/api/v1alpha1/regions",
        "https://r1.test/api/v1alpha1/instances",
        "https://r1.test/api/v1alpha1/instances",
        "https://r2.test/api/v1alpha1/instances",  # its URL already had the prefix
    ]
    listed = await resolve(atlas.regions.list())  # asked afresh when asked for
    assert [r.name for r in listed] == ["r1", "r2"]


async def test_an_unknown_region_lists_the_known_ones(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    atlas = h.client(region="mars-1")
    with pytest.raises(UnknownRegionError) as info:
        await resolve(atlas.instances.list())
    assert info.value.known == ["r1", "r2"]
    assert info.value.region == "mars-1"
    assert "no region named 'mars-1'; the regions are: r1, r2" in str(info.value)
    # The list is read again once before giving up (a region may have been added).
    asked = [r for r in h.server.requests if r.url.path.endswith("/regions")]
    assert len(asked) == 2


async def test_a_region_added_later_is_found(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    h.server.route("GET", h.server.region("r1", "/capabilities"), answer(200, ["x"]))
    h.server.route("GET", "https://r3.test/api/v1alpha1/capabilities", answer(200, ["y"]))
    atlas = h.client()
    assert await resolve(atlas.capabilities.list()) == ["x"]
    h.server.route(
        "GET",
        MANAGEMENT + "/api/v1alpha1/regions",
        answer(200, [{"name": "r1", "url": "https://r1.test"}, {"name": "r3", "url": "https://r3.test"}]),
    )  # fmt: skip
    assert await resolve(atlas.with_options(region="r3").capabilities.list()) == ["y"]


async def test_instance_types_read_both_spellings_of_the_gpu_fields(
    atlas_harness: AtlasHarness,
) -> None:
    # The Infrastructure API spells them gpuModel/gpuCount; the older Go client's spec
    # gpu_model/gpu_count. Either must give the GPU model and count.
    h = atlas_harness
    h.server.route(
        "GET",
        "https://r1.test/api/v1alpha1/instance-types",
        answer(200, [
            {"name": "new", "cpu": 96, "memory": "960Gi",
             "gpuModel": "GH100_H100_SXM5_80GB", "gpuCount": 8},
            {"name": "old", "cpu": 96, "memory": "1Ti",
             "gpu_model": "H100-HGX-80GB", "gpu_count": 4},
            {"name": "cpu", "cpu": 2, "memory": "8Gi"},
        ]),
    )  # fmt: skip
    kinds = {t.name: t for t in await resolve(h.client().instance_types.list())}
    assert (kinds["new"].gpu_model, kinds["new"].gpu_count) == ("GH100_H100_SXM5_80GB", 8)
    assert (kinds["old"].gpu_model, kinds["old"].gpu_count) == ("H100-HGX-80GB", 4)
    assert (kinds["cpu"].gpu_model, kinds["cpu"].gpu_count) == (None, None)


async def test_region_url_skips_discovery(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    h.server.route("GET", "https://direct.test/api/v1alpha1/instance-types", answer(200, []))
    atlas = h.client(region=None, region_url="https://direct.test")
    assert await resolve(atlas.instance_types.list()) == []
    assert not any(r.url.path.endswith("/regions") for r in h.server.requests)
    # Choosing a region by name replaces the URL (unless a URL is given too).
    assert atlas.with_options(region="r1")._scope.region_api is None
    assert atlas.with_options(project_id=None)._scope.region_api is not None


async def test_no_region_says_which_exist(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    atlas = h.client(region=None)
    with pytest.raises(ConfigurationError, match=r"no region chosen.*FLUIDSTACK_REGION.*r1, r2"):
        await resolve(atlas.capacity.list())


async def test_no_project_fails_before_anything_is_sent(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    atlas = h.client(project_id=None)
    with pytest.raises(ConfigurationError, match=r"no project chosen.*FLUIDSTACK_PROJECT_ID"):
        await resolve(atlas.instances.list())
    assert h.server.requests == []
    # Projects themselves need no project.
    h.server.route("GET", h.server.region("r1", "/projects"), answer(200, []))
    assert await resolve(atlas.projects.list()) == []
    assert "x-project-id" not in h.server.requests[-1].headers


async def test_views_share_the_connection_pool(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    atlas = h.client()
    view = atlas.with_options(region="r2", project_id=str(uuid.uuid4()))
    assert view._pipeline is atlas._pipeline
    assert view._scope.directory is atlas._scope.directory
    assert view.region == "r2"
    assert atlas.region == "r1"
    await resolve(view.close() if not h.is_async else view.aclose())
    assert not atlas._pipeline.http.is_closed  # closing a view closes nothing


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
    ],
)
async def test_spec_error_codes_map_to_typed_errors(
    atlas_harness: AtlasHarness, status: int, error: type
) -> None:
    h = atlas_harness
    url = h.server.region("r1", f"/instances/{INSTANCE['id']}")
    h.server.route("GET", url, answer(status, {"message": "nope"}))
    atlas = h.client()
    with pytest.raises(error) as info:
        await resolve(atlas.instances.get(INSTANCE["id"]))
    assert type(info.value) is error
    assert info.value.status_code == status
    assert str(info.value).endswith(": nope")
    assert len([r for r in h.server.requests if str(r.url) == url]) == 1


async def test_501_names_the_capability_and_the_region(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    url = h.server.region("r2", "/instances")
    h.server.route("POST", url, answer(501, {"message": "Not Implemented"}))
    atlas = h.client(region="r2")
    with pytest.raises(NotSupportedError) as info:
        await resolve(atlas.instances.create(name="a", type="cpu.2x"))
    assert info.value.capability == "instances:create"
    assert info.value.location == "region r2"
    assert "instances:create is not supported in region r2" in str(info.value)
    assert len([r for r in h.server.requests if str(r.url) == url]) == 1  # never retried


async def test_5xx_and_429_are_retried_with_retry_after(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    url = h.server.region("r1", "/instances")
    h.server.route(
        "GET",
        url,
        httpx.Response(429, headers={"retry-after": "3"}),
        answer(503),
        answer(200, [INSTANCE]),
    )
    atlas = h.client()
    assert len(await resolve(atlas.instances.list())) == 1
    assert h.clock.sleeps[0] == 3.0
    assert 0.75 <= h.clock.sleeps[1] <= 1.0


async def test_request_options_apply(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    url = h.server.region("r1", "/instances")
    h.server.route("GET", url, answer(500))
    atlas = h.client()
    with pytest.raises(InternalServerError):
        await resolve(
            atlas.instances.list(
                request_options={"max_retries": 0, "additional_headers": {"X-Trace": "t1"}}
            )
        )
    sent = [r for r in h.server.requests if str(r.url).startswith(url)]
    assert len(sent) == 1
    assert sent[0].headers["x-trace"] == "t1"


# -- responses -------------------------------------------------------------------------


async def test_every_variant_of_an_instance_parses(atlas_harness: AtlasHarness) -> None:
    h = atlas_harness
    bare = {k: v for k, v in INSTANCE.items() if k not in ("ip", "userData", "filesystems")}
    odd = {**INSTANCE, "state": "hibernating", "ip": None, "newField": 1}
    h.server.route("GET", h.server.region("r1", "/instances"), answer(200, [bare, odd]))
    atlas = h.client()
    first, second = await resolve(atlas.instances.list())
    assert first.ip is None
    assert first.user_data is None
    assert first.filesystems == []
    assert second.state == "hibernating"
    assert not second.state.is_known
    assert first.state is InstanceState.RUNNING
    assert second.model_extra == {"newField": 1}


async def test_raw_responses_are_the_methods_own_not_discovery(
    atlas_harness: AtlasHarness,
) -> None:
    h = atlas_harness
    h.server.route(
        "GET",
        h.server.region("r1", "/instances"),
        httpx.Response(200, json=[INSTANCE], headers={"x-request-id": "abc"}),
    )
    atlas = h.client()
    raw = await resolve(atlas.instances.with_raw_response.list())
    assert isinstance(raw, RawResponse)
    assert raw.headers["x-request-id"] == "abc"
    assert raw.http_response.request.url.path == "/api/v1alpha1/instances"
    (instance,) = raw.parse()
    assert isinstance(instance, Instance)


async def test_hooks_and_logs_never_show_the_secret_or_token(
    atlas_harness: AtlasHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = atlas_harness
    h.server.route("GET", h.server.region("r1", "/instances"), answer(200, [INSTANCE]))
    seen: List[str] = []
    hooks = EventHooks(on_request=[lambda e: seen.append(f"{e.operation} {e.path}")])
    caplog.set_level(logging.DEBUG)
    atlas = h.client(event_hooks=hooks)
    await resolve(atlas.instances.list())
    assert seen == [
        "oauth.token /oauth/token",  # the token is obtained before the first call goes out
        "regions.list /api/v1alpha1/regions",
        "instances.list /api/v1alpha1/instances",
    ]
    everything = caplog.text + " ".join(seen)
    for secret in (CLIENT_SECRET, *h.server.issued):
        assert secret not in everything


def test_sync_and_async_atlas_have_the_same_methods() -> None:
    import inspect

    sync, aio = Atlas(token="t"), AsyncAtlas(token="t")
    groups = [
        (getattr(sync, name), getattr(aio, name), name)
        for name in (
            "regions", "organizations", "members", "invitations", "user_keys", "clusters",
            "projects", "instances", "filesystems", "instance_types", "capacity", "capabilities",
        )
    ]  # fmt: skip
    for outer in ("kubernetes", "slurm"):
        for inner in ("clusters", "node_pools"):
            groups.append(
                (
                    getattr(getattr(sync, outer), inner),
                    getattr(getattr(aio, outer), inner),
                    f"{outer}.{inner}",
                )
            )
    checked = 0
    for one, two, group in groups:
        names = [n for n in dir(one) if not n.startswith("_")]
        assert names == [n for n in dir(two) if not n.startswith("_")], group
        for name in names:
            method = getattr(one, name)
            if not callable(method):
                continue
            params = inspect.signature(method).parameters.values()
            twin = inspect.signature(getattr(two, name)).parameters.values()
            assert [(p.name, p.kind, p.default) for p in params] == [
                (p.name, p.kind, p.default) for p in twin
            ], f"{group}.{name}"
            checked += 1
    assert checked >= 35
    assert [n for n in dir(Atlas) if not n.startswith("_")] == sorted(
        n.replace("aclose", "close") for n in dir(AsyncAtlas) if not n.startswith("_")
    )
    sync.close()


def test_project_is_uuid_checked_in_views() -> None:
    atlas = Atlas(token="t", project_id=PROJECT)
    with pytest.raises(ValueError, match="project's id"):
        atlas.with_options(project_id="nope")
    atlas.close()


def test_the_environment_can_be_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUIDSTACK_REGION", "from-env")
    monkeypatch.setenv("FLUIDSTACK_CLIENT_SECRET", "env-secret")
    atlas = Atlas(token="t", use_environment=False)
    assert atlas.region is None
    assert atlas._settings.client_secret is None
    assert atlas.management_url == "https://api.atlas.fluidstack.io/api/v1alpha1"
    atlas.close()


@pytest.mark.parametrize("with_body", [False, True], ids=["no-body", "json-body"])
async def test_start_stop_and_key_registration_accept_an_answer_with_or_without_a_body(
    atlas_harness: AtlasHarness, with_body: bool
) -> None:
    # The contract declares no body on these answers (the emulator sends none); a
    # server that does send JSON (the Instance, the key) must work as well
    # (docs/emulator.md, "Answers without a body").
    h = atlas_harness
    key = {"name": "laptop", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA you@laptop"}
    for action, state in (("start", "starting"), ("stop", "stopping")):
        h.server.route(
            "POST",
            f"https://r1.test/api/v1alpha1/instances/{INSTANCE['id']}/actions/{action}",
            answer(202, {**INSTANCE, "state": state} if with_body else None),
        )
    h.server.route(
        "POST", MANAGEMENT + "/api/v1alpha1/user/keys", answer(200, key if with_body else None)
    )
    atlas = h.client()
    for method in (atlas.instances.start, atlas.instances.stop):
        result = await resolve(method(INSTANCE["id"]))
        assert result is None or isinstance(result, Instance)
    registered = await resolve(atlas.user_keys.create(name=key["name"], key=key["key"]))
    assert (registered.name, registered.key) == (key["name"], key["key"])
