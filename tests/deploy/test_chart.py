"""The Helm chart's checks (deploy/helm/tuneline): lint, render, Kubernetes schemas, the restricted Pod
Security profile, no secret in values, and that the chart speaks the services' real settings.

helm is built by scripts/install-go-tools.sh into the cache; without it these tests fail and say so.
Each values file is rendered once per module (a few hundred milliseconds per helm call).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart_checks import (
    CHART,
    CUSTOM_RESOURCES,
    ROOT,
    ChartCheckError,
    helm_binary,
    lint,
    name_of,
    pod_specs,
    render,
    rendered_secret_problems,
    restricted_violations,
    schema_errors,
    secret_value_problems,
)

GPU_VALUES = CHART / "values-gpu-kuberay.yaml"
VALUES_FILES = {"default": (), "gpu-kuberay": (GPU_VALUES,)}
SERVICES = ("collector", "sanitizer", "writer", "trainer", "evaluator", "server")


@pytest.fixture(scope="module")
def renders() -> dict[str, list[dict[str, Any]]]:
    return {name: render(values_files=files) for name, files in VALUES_FILES.items()}


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def workload(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    [found] = [
        obj
        for obj in objects
        if obj["kind"] in ("Deployment", "StatefulSet")
        and obj["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return found


def container_env(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {env["name"]: env for env in obj["spec"]["template"]["spec"]["containers"][0]["env"]}


# ---- the tool ---------------------------------------------------------------------------------------


def test_helm_is_installed_where_the_install_script_puts_it() -> None:
    # Not a skip: CI must build helm (scripts/install-go-tools.sh) or these checks would silently vanish.
    assert helm_binary().is_file()


# ---- lint and render ---------------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(VALUES_FILES))
def test_helm_lint_strict_passes(values: str) -> None:
    out = lint(values_files=VALUES_FILES[values])
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values", sorted(VALUES_FILES))
def test_every_rendered_object_matches_its_schema(
    renders: dict[str, list[dict[str, Any]]], values: str
) -> None:
    objects = renders[values]
    assert len(objects) > 30
    problems = {name_of(obj): errors for obj in objects if (errors := schema_errors(obj))}
    assert problems == {}


def test_the_gpu_file_renders_every_custom_resource_kind_we_check(
    renders: dict[str, list[dict[str, Any]]],
) -> None:
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in renders["gpu-kuberay"]}
    # RayJob is checked but not rendered (the trainer drives runs on a RayCluster).
    assert set(CUSTOM_RESOURCES) - {("ray.io/v1", "RayJob")} <= kinds


@pytest.mark.parametrize("values", sorted(VALUES_FILES))
def test_every_pod_meets_the_restricted_profile(
    renders: dict[str, list[dict[str, Any]]], values: str
) -> None:
    pods = [(where, pod) for obj in renders[values] for where, pod in pod_specs(obj)]
    assert len(pods) >= 7  # six services and the init-tables job (plus the Ray pods with kuberay)
    assert {where: problems for where, pod in pods if (problems := restricted_violations(pod))} == {}


@pytest.mark.parametrize("values_file", [CHART / "values.yaml", GPU_VALUES])
def test_values_hold_no_secret_values(values_file: Path) -> None:
    assert secret_value_problems(yaml.safe_load(values_file.read_text())) == []


@pytest.mark.parametrize("values", sorted(VALUES_FILES))
def test_no_secret_is_rendered_and_secrets_come_from_files(
    renders: dict[str, list[dict[str, Any]]], values: str
) -> None:
    assert rendered_secret_problems(renders[values]) == []
    assert not [obj for obj in renders[values] if obj["kind"] == "Secret"]


VARIANTS = {
    "hpa": ("autoscaling.mode=hpa",),
    "job-on-gpu": ("training.job.onGpuPool=true", "training.gpuImage=registry.example/trainer-gpu:1"),
    "oauth-mtls": (
        "kafka.securityProtocol=SASL_SSL",
        "kafka.sasl.mechanism=OAUTHBEARER",
        "kafka.sasl.existingSecret=kafka-oauth",
        "kafka.sasl.oauth.tokenUrl=https://idp.example/token",
        "kafka.sasl.oauth.clientId=tuneline",
        "kafka.tls.existingSecret=kafka-tls",
        "kafka.tls.certKey=tls.crt",
        "kafka.tls.keyKey=tls.key",
    ),
    "local-dynamodb": (
        "dynamodb.endpoint=http://dynamodb:8000",
        "aws.credentialsSecret.name=aws-creds",
        "serviceAccounts.create=false",
        "networkPolicy.enabled=false",
        "namespace=team-b",
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_other_value_combinations_render_valid_restricted_objects(variant: str) -> None:
    objects = render(sets=VARIANTS[variant])
    assert {name_of(obj): errors for obj in objects if (errors := schema_errors(obj))} == {}
    pods = [(where, pod) for obj in objects for where, pod in pod_specs(obj)]
    assert {where: problems for where, pod in pods if (problems := restricted_violations(pod))} == {}
    assert rendered_secret_problems(objects) == []
    if variant == "job-on-gpu":
        trainer = workload(objects, "trainer")["spec"]["template"]["spec"]
        assert trainer["nodeSelector"] == {"tuneline.dev/pool": "gpu"}
        assert trainer["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert trainer["containers"][0]["image"] == "registry.example/trainer-gpu:1"
        assert "TUNELINE_TRAINER_RAY_ADDRESS" not in container_env(workload(objects, "trainer"))
    if variant == "oauth-mtls":
        env = container_env(workload(objects, "writer"))
        assert env["TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE"]["value"].endswith("/kafka-sasl/client-secret")
        assert env["TUNELINE_KAFKA_SSL_KEY_FILE"]["value"].endswith("/kafka-tls/tls.key")
        assert "TUNELINE_KAFKA_SASL_PASSWORD_FILE" not in env
    if variant == "local-dynamodb":
        env = container_env(workload(objects, "trainer"))
        assert env["TUNELINE_DYNAMODB_ENDPOINT"]["value"] == "http://dynamodb:8000"
        assert env["AWS_SHARED_CREDENTIALS_FILE"]["value"] == "/var/run/secrets/tuneline/aws/credentials"
        assert env["TUNELINE_NAMESPACE"]["value"] == "team-b"
        assert not [o for o in objects if o["kind"] in ("ServiceAccount", "NetworkPolicy")]


def test_incomplete_kafka_security_values_are_refused_at_render() -> None:
    with pytest.raises(ChartCheckError, match=r"kafka\.sasl\.existingSecret is required"):
        render(
            sets=("kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=PLAIN", "kafka.sasl.username=u")
        )
    with pytest.raises(ChartCheckError, match=r"kafka\.sasl\.mechanism is required"):
        render(sets=("kafka.securityProtocol=SASL_PLAINTEXT", "kafka.sasl.existingSecret=s"))


def test_iam_policies_name_only_dynamodb_calls_on_tuneline_tables() -> None:
    import json

    for policy_file in sorted((ROOT / "docs" / "deploy" / "iam").glob("*.json")):
        policy = json.loads(policy_file.read_text())
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            assert all(action.startswith("dynamodb:") and "*" not in action for action in statement["Action"])
            assert all(":table/tuneline-" in resource for resource in statement["Resource"])
    create = [
        p.stem for p in (ROOT / "docs" / "deploy" / "iam").glob("*.json") if "CreateTable" in p.read_text()
    ]
    assert create == ["init-tables"]


# ---- the chart speaks the services' settings ---------------------------------------------------------


def known_settings() -> set[str]:
    """Every environment variable a settings class reads (its prefix plus field, or its aliases)."""
    from pydantic import AliasChoices

    from libs.common.paths import HOME_ENV
    from libs.common.settings import SharedSettings
    from services.collector.settings import CollectorSettings
    from services.evaluator.settings import EvaluatorSettings
    from services.sanitizer.settings import SanitizerSettings
    from services.server.settings import ServerSettings
    from services.trainer.settings import TrainerSettings
    from services.writer.settings import WriterSettings

    names = {HOME_ENV, "TUNELINE_CACHE_DIR"}  # read by libs.common.paths and libs.model_cache
    for cls in (
        SharedSettings,
        CollectorSettings,
        SanitizerSettings,
        WriterSettings,
        TrainerSettings,
        EvaluatorSettings,
        ServerSettings,
    ):
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            names.add(f"{prefix}{field_name}".upper())
            if isinstance(field.validation_alias, AliasChoices):
                names |= {str(choice).upper() for choice in field.validation_alias.choices}
    return names


@pytest.mark.parametrize("values", sorted(VALUES_FILES))
def test_every_tuneline_variable_the_chart_sets_is_a_real_setting(
    renders: dict[str, list[dict[str, Any]]], values: str
) -> None:
    settings = known_settings()
    used = {
        env["name"]
        for obj in renders[values]
        for _, pod in pod_specs(obj)
        for container in pod.get("containers", [])
        for env in container.get("env") or []
        if env["name"].startswith("TUNELINE_")
    }
    assert used - settings == set()
    assert "TUNELINE_KAFKA_BOOTSTRAP" in used


@pytest.mark.parametrize("values", sorted(VALUES_FILES))
def test_the_services_accept_the_environment_the_chart_gives_them(
    renders: dict[str, list[dict[str, Any]]], values: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's settings load from its container's environment, with the mounted secret files
    standing in as files under tmp_path (a wrong type, name or missing file fails here, not in the pod)."""
    import os

    from libs.common import settings as shared_settings
    from services.collector.settings import CollectorSettings
    from services.evaluator.settings import EvaluatorSettings
    from services.sanitizer.settings import SanitizerSettings
    from services.server.settings import ServerSettings
    from services.trainer.settings import TrainerSettings
    from services.writer.settings import WriterSettings

    classes: dict[str, type[Any]] = {
        "collector": CollectorSettings,
        "sanitizer": SanitizerSettings,
        "writer": WriterSettings,
        "trainer": TrainerSettings,
        "evaluator": EvaluatorSettings,
        "server": ServerSettings,
    }
    for component, cls in classes.items():
        for name in [n for n in os.environ if n.startswith(("TUNELINE_", "AWS_"))]:
            monkeypatch.delenv(name)
        for name, env in container_env(workload(renders[values], component)).items():
            value = env.get("value")
            if value is None:  # valueFrom: a Secret's key or the pod's name
                value = "tuneline" if "secretKeyRef" in env else f"{component}-0"
            if value.startswith("/var/run/secrets/tuneline/"):
                secret_file = tmp_path / value.removeprefix("/")
                secret_file.parent.mkdir(parents=True, exist_ok=True)
                secret_file.write_text("k" * 48)  # long enough for every key and token rule
                value = str(secret_file)
            monkeypatch.setenv(name, value)
        shared_settings.get_shared_settings.cache_clear()
        try:
            loaded = cls()
            assert (
                loaded.shared.kafka_bootstrap
                == container_env(workload(renders[values], component))["TUNELINE_KAFKA_BOOTSTRAP"]["value"]
            )
        finally:
            shared_settings.get_shared_settings.cache_clear()
        if component in ("trainer", "server"):
            assert loaded.http_host == "0.0.0.0"  # noqa: S104 - what a pod must listen on
        assert (
            loaded.http_port
            == workload(renders[values], component)["spec"]["template"]["spec"]["containers"][0]["ports"][0][
                "containerPort"
            ]
        )


def test_ports_and_probes_match_the_services(renders: dict[str, list[dict[str, Any]]]) -> None:
    from pydantic_settings import BaseSettings

    from services.collector.settings import CollectorSettings
    from services.evaluator.settings import EvaluatorSettings
    from services.sanitizer.settings import SanitizerSettings
    from services.server.settings import ServerSettings
    from services.trainer.settings import TrainerSettings
    from services.writer.settings import WriterSettings

    classes: dict[str, type[BaseSettings]] = {
        "collector": CollectorSettings,
        "sanitizer": SanitizerSettings,
        "writer": WriterSettings,
        "trainer": TrainerSettings,
        "evaluator": EvaluatorSettings,
        "server": ServerSettings,
    }
    for component, cls in classes.items():
        container = workload(renders["default"], component)["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [
            {"name": "http", "containerPort": cls.model_fields["http_port"].default, "protocol": "TCP"}
        ], component
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert "command" not in container and "args" not in container  # the image's ENTRYPOINT runs it
        assert container["image"] == f"tuneline/{component}:0.1.0"


def test_config_files_are_the_shipped_ones_mounted_where_settings_point(
    renders: dict[str, list[dict[str, Any]]],
) -> None:
    for name in ("sources", "sanitizer", "trainer", "evaluator"):
        # The chart's copy must not drift from config/ (the services' defaults).
        assert (CHART / "files" / "config" / f"{name}.yaml").read_bytes() == (
            ROOT / "config" / f"{name}.yaml"
        ).read_bytes()
        [configmap] = [
            obj
            for obj in renders["default"]
            if obj["kind"] == "ConfigMap" and f"{name}.yaml" in obj.get("data", {})
        ]
        assert yaml.safe_load(configmap["data"][f"{name}.yaml"]) == yaml.safe_load(
            (ROOT / "config" / f"{name}.yaml").read_text()
        )
    env = {c: container_env(workload(renders["default"], c)) for c in SERVICES}
    assert env["collector"]["TUNELINE_COLLECTOR_CONFIG_FILE"]["value"] == "/etc/tuneline/sources.yaml"
    assert env["sanitizer"]["TUNELINE_SANITIZER_CONFIG_FILE"]["value"] == "/etc/tuneline/sanitizer.yaml"
    assert env["trainer"]["TUNELINE_TRAINER_CONFIG_FILE"]["value"] == "/etc/tuneline/trainer.yaml"
    assert env["evaluator"]["TUNELINE_EVALUATOR_CONFIG_FILE"]["value"] == "/etc/tuneline/evaluator.yaml"
    # evaluator.yaml names sanitizer.yaml beside it (pii_scan.policy_file)
    volumes = workload(renders["default"], "evaluator")["spec"]["template"]["spec"]["volumes"]
    [config] = [v for v in volumes if v["name"] == "config"]
    assert {s["configMap"]["items"][0]["path"] for s in config["projected"]["sources"]} == {
        "evaluator.yaml",
        "sanitizer.yaml",
    }


def test_values_overrides_merge_into_the_config_files(tmp_path: Path) -> None:
    overrides = tmp_path / "values.yaml"
    overrides.write_text(
        "config:\n  trainer: {defaults: {epochs: 3}}\n  sanitizer: {max_record_bytes: 10485760}\n"
    )
    objects = render(values_files=(overrides,))
    configs = {
        key: yaml.safe_load(text)
        for obj in objects
        if obj["kind"] == "ConfigMap"
        for key, text in obj.get("data", {}).items()
        if key.endswith(".yaml")
    }
    assert configs["trainer.yaml"]["defaults"]["epochs"] == 3
    assert configs["trainer.yaml"]["defaults"]["base_model"] == "tuneline/smollm2-135m-instruct"  # kept
    # a big integer must stay an integer (Helm's float64 numbers print as 1.048576e+06 otherwise)
    assert configs["sanitizer.yaml"]["max_record_bytes"] == 10485760


def test_secrets_are_mounted_files_read_only(renders: dict[str, list[dict[str, Any]]]) -> None:
    gpu = renders["gpu-kuberay"]
    for component in SERVICES:
        obj = workload(gpu, component)
        env = container_env(obj)
        assert env["TUNELINE_KAFKA_SASL_PASSWORD_FILE"]["value"].startswith(
            "/var/run/secrets/tuneline/kafka-sasl/"
        )
        assert (
            env["TUNELINE_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]["name"] == "tuneline-kafka-sasl"
        )
        assert env["TUNELINE_KAFKA_SSL_CA_FILE"]["value"] == "/var/run/secrets/tuneline/kafka-tls/ca.crt"
        assert "TUNELINE_DYNAMODB_ENDPOINT" not in env  # AWS itself
        mounts = obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert all(m.get("readOnly") for m in mounts if m["mountPath"].startswith("/var/run/secrets/"))
    sanitizer = container_env(workload(gpu, "sanitizer"))
    assert sanitizer["TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE"]["value"] == (
        "/var/run/secrets/tuneline/sanitizer/pseudonym-key"
    )
    assert container_env(workload(gpu, "trainer"))["TUNELINE_ADMIN_TOKEN_FILE"]["value"].endswith(
        "/admin/token"
    )


def test_kuberay_training_on_the_gpu_pool(renders: dict[str, list[dict[str, Any]]]) -> None:
    gpu = renders["gpu-kuberay"]
    [ray] = by_kind(gpu, "RayCluster").values()
    services = set(by_kind(gpu, "Service"))
    address = container_env(workload(gpu, "trainer"))["TUNELINE_TRAINER_RAY_ADDRESS"]["value"]
    head_service = re.fullmatch(r"ray://([^.]+)\.tuneline\.svc:10001", address)
    assert head_service and head_service.group(1) == f"{ray['metadata']['name']}-head-svc"  # KubeRay's name
    assert head_service.group(1) not in services  # the operator makes it, not the chart
    [workers] = ray["spec"]["workerGroupSpecs"]
    pod = workers["template"]["spec"]
    assert pod["nodeSelector"] == {"tuneline.dev/pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in str(ray["spec"]["headGroupSpec"])
    # Ray token authentication: the same mounted token for every Ray pod and the trainer's Ray Client.
    for env in (
        container_env(workload(gpu, "trainer")),
        *({e["name"]: e for e in spec["containers"][0]["env"]} for _, spec in pod_specs(ray)),
    ):
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN_PATH"]["value"] == "/var/run/secrets/tuneline/ray/auth_token"
    # Workers scale between min and max: KubeRay's autoscaler sidecar runs restricted too.
    assert ray["spec"]["enableInTreeAutoscaling"] is True
    assert (
        restricted_violations(
            {
                "containers": [
                    {
                        "name": "autoscaler",
                        "securityContext": ray["spec"]["autoscalerOptions"]["securityContext"],
                    }
                ]
            }
        )
        == []
    )
    # The run folder is shared (ReadWriteMany) by the trainer and every Ray pod, at the same path.
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for _, spec in pod_specs(ray)
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    }
    trainer_volumes = workload(gpu, "trainer")["spec"]["template"]["spec"]["volumes"]
    [work] = [v for v in trainer_volumes if v["name"] == "work"]
    assert claims == {work["persistentVolumeClaim"]["claimName"]}
    assert by_kind(gpu, "PersistentVolumeClaim")[work["persistentVolumeClaim"]["claimName"]]["spec"][
        "accessModes"
    ] == ["ReadWriteMany"]
    # The model server on the GPU pool too.
    server = workload(gpu, "server")["spec"]["template"]["spec"]
    assert server["nodeSelector"] == {"tuneline.dev/pool": "gpu"}
    assert server["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    # Default values: no Ray, nothing on the GPU pool.
    assert not by_kind(renders["default"], "RayCluster")
    assert "nvidia.com/gpu" not in str(renders["default"])


def test_keda_scales_on_the_services_real_consumer_groups(renders: dict[str, list[dict[str, Any]]]) -> None:
    from services.evaluator.settings import EvaluatorSettings
    from services.sanitizer.settings import SanitizerSettings
    from services.writer.settings import WriterSettings

    scaled = by_kind(renders["gpu-kuberay"], "ScaledObject")
    groups = {
        obj["spec"]["scaleTargetRef"]["name"].rsplit("-", 1)[1]: obj["spec"]["triggers"][0]["metadata"]
        for obj in scaled.values()
    }
    assert groups["writer"]["consumerGroup"] == WriterSettings.model_fields["group_id"].default
    assert groups["writer"]["topic"] == WriterSettings.model_fields["topic"].default
    assert groups["evaluator"]["consumerGroup"] == EvaluatorSettings.model_fields["group_id"].default
    assert groups["sanitizer"]["consumerGroup"] == SanitizerSettings.model_fields["app_id"].default  # Faust
    assert all(m["sasl"] == "scram_sha512" and m["tls"] == "enable" for m in groups.values())
    # Namespaced pipelines scale on their namespaced groups.
    objects = render(values_files=(GPU_VALUES,), sets=("namespace=team-b",))
    names = {
        o["spec"]["triggers"][0]["metadata"]["consumerGroup"]
        for o in by_kind(objects, "ScaledObject").values()
    }
    assert names == {"team-b.tuneline-writer", "team-b.tuneline-evaluator", "team-b.tuneline-sanitizer"}


def test_network_policies_deny_by_default_and_keep_ray_inside(
    renders: dict[str, list[dict[str, Any]]],
) -> None:
    policies = by_kind(renders["gpu-kuberay"], "NetworkPolicy")
    release = {"app.kubernetes.io/name": "tuneline", "app.kubernetes.io/instance": "rel"}
    [deny] = [p for p in policies.values() if "ingress" not in p["spec"]]
    assert deny["spec"]["podSelector"]["matchLabels"] == release
    [ray] = [p for name, p in policies.items() if name.endswith("-ray")]
    peers = [peer for rule in ray["spec"]["ingress"] for peer in rule["from"]]
    all_ports = [rule for rule in ray["spec"]["ingress"] if "ports" not in rule]
    assert all_ports == [{"from": [{"podSelector": {"matchLabels": release}}]}]
    assert all(
        "namespaceSelector" not in peer or rule.get("ports")
        for rule in ray["spec"]["ingress"]
        for peer in rule["from"]
    )
    assert peers
    # Every pod of the release is covered by the default deny.
    for obj in renders["gpu-kuberay"]:
        for _, pod in pod_specs(obj):
            del pod  # labels live on the template metadata
        if obj["kind"] in ("Deployment", "StatefulSet"):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert release.items() <= labels.items(), name_of(obj)


def test_dashboard_uses_metrics_the_services_export(renders: dict[str, list[dict[str, Any]]]) -> None:
    [dashboard] = [
        o for o in renders["default"] if o["kind"] == "ConfigMap" and "tuneline.json" in o.get("data", {})
    ]
    exported = set()
    for metrics_file in (ROOT / "services").glob("*/metrics.py"):
        text = metrics_file.read_text()
        exported |= set(re.findall(r'"(tuneline_[a-z_]+)"', text))
        exported |= {f"tuneline_server_{m}" for m in re.findall(r'f"\{p\}([a-z_]+)"', text)}
    used = set(re.findall(r"tuneline_[a-z_]+", dashboard["data"]["tuneline.json"]))

    def base(names: set[str]) -> set[str]:
        return {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in names}

    assert base(used) - base(exported) == set()
    assert len(base(used)) >= 15


# ---- the checks can fail ------------------------------------------------------------------------------


@pytest.fixture
def broken_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "tuneline"
    shutil.copytree(CHART, chart)
    return chart


def test_a_bad_field_fails_the_schema_check(broken_chart: Path) -> None:
    (broken_chart / "templates" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  portz: [{port: 80}]\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n"
        "spec:\n  replicas: two\n  selector: {matchLabels: {a: b}}\n"
        "  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n"
        "---\napiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: broken\nspec: {}\n"
        "---\napiVersion: example.com/v1\nkind: Unlisted\nmetadata:\n  name: broken\n"
    )
    errors = {name_of(obj): schema_errors(obj) for obj in render(chart=broken_chart)}
    assert any("portz" in e for e in errors["Service/broken"])
    assert any("replicas" in e for e in errors["Deployment/broken"])
    assert "spec.headGroupSpec.template is missing" in errors["RayCluster/broken"]
    assert any("CUSTOM_RESOURCES" in e for e in errors["Unlisted/broken"])
    assert sum(bool(e) for e in errors.values()) == 4  # and nothing else


def test_a_privileged_pod_fails_the_restricted_check(broken_chart: Path) -> None:
    (broken_chart / "templates" / "broken.yaml").write_text(
        """apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      hostNetwork: true
      securityContext: {runAsUser: 0}
      volumes: [{name: host, hostPath: {path: /var/run}}]
      containers:
        - name: c
          image: i
          ports: [{containerPort: 80, hostPort: 80}]
          securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
"""
    )
    [broken] = [obj for obj in render(chart=broken_chart) if name_of(obj) == "Deployment/broken"]
    [(_, pod)] = list(pod_specs(broken))
    problems = "\n".join(restricted_violations(pod))
    for expected in (
        "hostNetwork is true",
        "volume host: type hostPath",
        "pod runAsUser is 0",
        "container c: privileged",
        "allowPrivilegeEscalation is not false",
        "runAsNonRoot is not true",
        "seccompProfile is None",
        "capabilities do not drop ALL",
        "adds capabilities SYS_ADMIN",
        "hostPort 80",
        "readOnlyRootFilesystem is not true",
    ):
        assert expected in problems
    # Through values too: a privileged container in every pod of the chart.
    objects = render(sets=("containerSecurityContext.privileged=true",))
    assert all(
        any("privileged" in p for p in restricted_violations(pod))
        for obj in objects
        for _, pod in pod_specs(obj)
    )


def test_a_template_error_fails_lint(broken_chart: Path) -> None:
    (broken_chart / "templates" / "broken.yaml").write_text("{{ .Values.nope.deeper }}\n")
    with pytest.raises(ChartCheckError, match="nil pointer|deeper"):
        lint(chart=broken_chart)


def test_a_mistyped_top_level_value_is_refused_by_the_schema() -> None:
    with pytest.raises(ChartCheckError, match="kafak"):
        render(sets=("kafak.bootstrap=x:9092",))
    with pytest.raises(ChartCheckError, match="pasword"):  # nested keys are checked too
        render(sets=("kafka.sasl.pasword=x",))
    with pytest.raises(ChartCheckError, match="securityProtocol"):
        render(sets=("kafka.securityProtocol=SASL",))


def test_secret_values_in_values_or_objects_are_reported() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values["kafka"]["sasl"]["password"] = "hunter2-hunter2"
    values["secrets"]["adminToken"]["key"] = "Zt9x/Q2pL7vR4mN8kW1s+A=="
    values["extraEnv"] = [{"name": "X", "value": "-----BEGIN RSA PRIVATE KEY-----\nabc"}]
    problems = "\n".join(secret_value_problems(values))
    assert "kafka.sasl.password: a secret-sounding key holds a value" in problems
    assert "secrets.adminToken.key: not the name of a key in a Secret" in problems
    assert "extraEnv[0].value: looks like a secret value" in problems
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"token": "x"}}
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "c", "env": [{"name": "TUNELINE_ADMIN_TOKEN", "value": "x"}]}]
                }
            }
        },
    }
    assert rendered_secret_problems([secret, deployment]) == [
        "Secret/s carries data",
        "Deployment/d c: TUNELINE_ADMIN_TOKEN has a literal value",
    ]


def test_missing_helm_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELINE_CACHE_DIR", str(tmp_path))
    with pytest.raises(ChartCheckError, match="scripts/install-go-tools.sh"):
        helm_binary()
