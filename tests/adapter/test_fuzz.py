"""Property-based requests against the server: whatever the path, metric name, namespace, selector
or headers, the answer is never a 500 and never a traceback, and errors are ``Status`` objects."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .demo_adapter import DemoAdapter

FUZZ = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"

label_token = st.from_regex(r"[a-z0-9A-Z]([a-z0-9A-Z._-]{0,8}[a-z0-9A-Z])?", fullmatch=True)
selector_like = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.one_of(
            st.builds(lambda k, v: f"{k}={v}", label_token, label_token),
            st.builds(lambda k, v: f"{k}!={v}", label_token, label_token),
            st.builds(lambda k, vs: f"{k} in ({','.join(vs)})", label_token, st.lists(label_token, max_size=3)),
            st.builds(lambda k: f"!{k}", label_token),
            st.text(alphabet="=!(), inotapq\"'\\{}\n", max_size=10),
        ),
        max_size=4,
    ).map(",".join),
)
segment = st.one_of(st.sampled_from(["default", "queue_depth", "GPU_UTILIZATION", "*", "pods", "llama-0"]), st.text(max_size=20))


async def assert_clean(demo: DemoAdapter, path: str, headers: dict[str, str] | None = None) -> None:
    response = await demo.client.get(path, headers=headers or {}, allow_redirects=False)
    body = await response.text()
    assert response.status < 500, (path, response.status, body)
    assert "Traceback" not in body
    if response.status >= 400:
        assert response.content_type == "application/json", (path, response.status, body)
        document = json.loads(body)
        assert document["kind"] == "Status" and document["code"] == response.status


@FUZZ
@given(namespace=segment, metric=segment, selector=selector_like)
async def test_external_requests_never_fail_internally(demo: DemoAdapter, namespace: str, metric: str, selector: str) -> None:
    await assert_clean(demo, f"{EXTERNAL}/namespaces/{quote(namespace, safe='')}/{quote(metric, safe='')}?labelSelector={quote(selector, safe='')}")


@FUZZ
@given(pod=segment, metric=segment, selector=selector_like, metric_selector=selector_like)
async def test_pod_requests_never_fail_internally(
    demo: DemoAdapter, pod: str, metric: str, selector: str, metric_selector: str
) -> None:
    query = f"labelSelector={quote(selector, safe='')}&metricLabelSelector={quote(metric_selector, safe='')}"
    await assert_clean(demo, f"{CUSTOM}/namespaces/default/pods/{quote(pod, safe='')}/{quote(metric, safe='')}?{query}")


@FUZZ
@given(
    path=st.lists(segment.filter(bool), max_size=6).map(lambda parts: "/" + "/".join(quote(part, safe="") for part in parts)),
    accept=st.one_of(st.just("application/vnd.kubernetes.protobuf, */*"), st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)),
    user=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
async def test_any_path_and_headers_never_fail_internally(demo: DemoAdapter, path: str, accept: str, user: str) -> None:
    await assert_clean(demo, path, headers={"Accept": accept, "X-Remote-User": user, "X-Remote-Group": user})
