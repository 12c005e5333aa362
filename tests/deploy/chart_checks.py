"""The checks a platform team runs on the Helm chart, as plain functions that return what is wrong.

- ``render``/``lint``: the helm binary that ``scripts/install-go-tools.sh`` builds into the cache.
- ``schema_errors``: every object against the Kubernetes OpenAPI schemas of one fixed version
  (PyPI's kubernetes-validate, strict: an unknown field is an error), and the custom resources the chart
  renders, which those schemas lack, against a structural check of our own (``CUSTOM_RESOURCES``).
- ``restricted_violations``: a pod spec against the Pod Security Standards' ``restricted`` profile
  (which includes ``baseline``), plus our own rule of a read-only root filesystem.
- ``secret_value_problems``: values that hold something other than a reference where a secret would go.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import kubernetes_validate
import kubernetes_validate.utils
import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
CHART: Final = ROOT / "deploy" / "helm" / "tuneline"
# The Kubernetes version every object is validated against (a version kubernetes-validate ships; the
# chart's kubeVersion allows it), and the one helm renders for.
KUBE_VERSION: Final = "1.33.0"
# kubernetes-validate reads and parses its schema files on every call (the shared definitions are
# megabytes of JSON); they never change, so each is parsed once: 6x faster over a whole render.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)
INSTALL_HINT: Final = "run scripts/install-go-tools.sh (it builds helm v4.3.2 from the Go module proxy)"


class ChartCheckError(RuntimeError):
    """helm is missing or failed (the message holds its output)."""


def helm_binary() -> Path:
    cache = Path(os.environ.get("TUNELINE_CACHE_DIR") or Path.home() / ".cache" / "tuneline").expanduser()
    helm = cache / "tools" / "go" / "bin" / "helm"
    if not os.access(helm, os.X_OK):
        raise ChartCheckError(f"helm not found at {helm}: {INSTALL_HINT}")
    return helm


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own binary, arguments from the tests
        [str(helm_binary()), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _values_args(values_files: tuple[Path, ...], sets: tuple[str, ...]) -> list[str]:
    args: list[str] = []
    for file in values_files:
        args += ["--values", str(file)]
    for item in sets:
        args += ["--set", item]
    return args


def lint(chart: Path = CHART, values_files: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> str:
    """``helm lint --strict``; raises ``ChartCheckError`` with helm's output when it fails."""
    result = _helm(
        "lint", "--strict", "--kube-version", KUBE_VERSION, str(chart), *_values_args(values_files, sets)
    )
    if result.returncode != 0:
        raise ChartCheckError(f"helm lint failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def render(
    chart: Path = CHART, values_files: tuple[Path, ...] = (), sets: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Every object ``helm template`` renders (hooks included), parsed."""
    result = _helm(
        "template",
        "rel",
        str(chart),
        "--namespace",
        "tuneline",
        "--kube-version",
        KUBE_VERSION,
        *_values_args(values_files, sets),
    )
    if result.returncode != 0:
        raise ChartCheckError(f"helm template failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name_of(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# ---- schemas --------------------------------------------------------------------------------------


def _need(obj: dict[str, Any], path: str, kind: type | tuple[type, ...]) -> list[str]:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return [f"{path} is missing"]
        node = node[part]
    return [] if isinstance(node, kind) else [f"{path} is not a {getattr(kind, '__name__', kind)}"]


def _check_pod_template(template: Any, where: str) -> list[str]:
    if not isinstance(template, dict):
        return [f"{where} is not an object"]
    errors = _need(template, "spec.containers", list)
    for i, container in enumerate(template.get("spec", {}).get("containers") or []):
        errors += [f"{where}.spec.containers[{i}].{e}" for e in _need(container, "image", str)]
        errors += [f"{where}.spec.containers[{i}].{e}" for e in _need(container, "name", str)]
    return errors


def _check_raycluster(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec", {})
    errors = _need(obj, "spec.headGroupSpec.template", dict) + _need(
        obj, "spec.headGroupSpec.rayStartParams", dict
    )
    errors += _check_pod_template(spec.get("headGroupSpec", {}).get("template"), "headGroupSpec.template")
    for i, group in enumerate(spec.get("workerGroupSpecs") or []):
        for field in ("groupName", "rayStartParams", "template"):
            if field not in group:
                errors.append(f"workerGroupSpecs[{i}].{field} is missing")
        for field in ("replicas", "minReplicas", "maxReplicas"):
            if field in group and not isinstance(group[field], int):
                errors.append(f"workerGroupSpecs[{i}].{field} is not an integer")
        for key, value in (group.get("rayStartParams") or {}).items():
            if not isinstance(value, str):
                errors.append(f"workerGroupSpecs[{i}].rayStartParams.{key} must be a string")
        errors += _check_pod_template(group.get("template"), f"workerGroupSpecs[{i}].template")
    return errors


def _check_rayjob(obj: dict[str, Any]) -> list[str]:
    errors = _need(obj, "spec.entrypoint", str)
    if "rayClusterSpec" in obj.get("spec", {}):
        errors += _check_raycluster({"spec": obj["spec"]["rayClusterSpec"]})
    return errors


def _check_scaledobject(obj: dict[str, Any]) -> list[str]:
    errors = _need(obj, "spec.scaleTargetRef.name", str) + _need(obj, "spec.triggers", list)
    for i, trigger in enumerate(obj.get("spec", {}).get("triggers") or []):
        errors += [
            f"triggers[{i}].{e}" for e in _need(trigger, "type", str) + _need(trigger, "metadata", dict)
        ]
        for key, value in (trigger.get("metadata") or {}).items():
            if not isinstance(value, str):  # KEDA's trigger metadata is map[string]string
                errors.append(f"triggers[{i}].metadata.{key} must be a string")
        if trigger.get("type") == "kafka":
            for key in ("bootstrapServers", "consumerGroup", "lagThreshold"):
                if key not in (trigger.get("metadata") or {}):
                    errors.append(f"triggers[{i}].metadata.{key} is missing")
    return errors


def _check_triggerauthentication(obj: dict[str, Any]) -> list[str]:
    errors = _need(obj, "spec.secretTargetRef", list)
    for i, ref in enumerate(obj.get("spec", {}).get("secretTargetRef") or []):
        for field in ("parameter", "name", "key"):
            errors += [f"secretTargetRef[{i}].{e}" for e in _need(ref, field, str)]
    return errors


def _check_servicemonitor(obj: dict[str, Any]) -> list[str]:
    errors = _need(obj, "spec.selector", dict) + _need(obj, "spec.endpoints", list)
    for i, endpoint in enumerate(obj.get("spec", {}).get("endpoints") or []):
        if "port" not in endpoint and "targetPort" not in endpoint:
            errors.append(f"endpoints[{i}] names no port")
    return errors


# Kinds kubernetes-validate has no schema for, with the structural check each gets instead. Explicit, so
# a new kind the chart starts to render fails until someone decides how to check it.
CUSTOM_RESOURCES: Final[dict[tuple[str, str], Callable[[dict[str, Any]], list[str]]]] = {
    ("ray.io/v1", "RayCluster"): _check_raycluster,
    ("ray.io/v1", "RayJob"): _check_rayjob,
    ("keda.sh/v1alpha1", "ScaledObject"): _check_scaledobject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _check_triggerauthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _check_servicemonitor,
}


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """What is wrong with one rendered object's structure (empty when it is valid)."""
    errors = _need(obj, "metadata.name", str)
    check = CUSTOM_RESOURCES.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if check is not None:
        return errors + check(obj)
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        errors.append(
            f"{obj.get('apiVersion')} {obj.get('kind')} is neither in Kubernetes {KUBE_VERSION}'s "
            "schemas nor a custom resource listed in CUSTOM_RESOURCES"
        )
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path)
        errors.append(f"{path or '<root>'}: {exc.message}")
    return errors


# ---- Pod Security Standards: restricted ------------------------------------------------------------

# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted: volume types)
RESTRICTED_VOLUME_TYPES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
POD_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec an object creates, with where it sits."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    name = name_of(obj)
    if kind == "Pod":
        yield name, spec
    elif kind in POD_KINDS:
        yield name, spec.get("template", {}).get("spec", {})
    elif kind == "CronJob":
        yield name, spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    elif kind in ("RayCluster", "RayJob"):
        cluster = spec.get("rayClusterSpec", {}) if kind == "RayJob" else spec
        yield f"{name} head", cluster.get("headGroupSpec", {}).get("template", {}).get("spec", {})
        for group in cluster.get("workerGroupSpecs") or []:
            yield f"{name} {group.get('groupName')}", group.get("template", {}).get("spec", {})


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Where a pod spec breaks the restricted profile or our read-only root filesystem rule."""
    problems: list[str] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{field} is true")
    pod_sc = pod.get("securityContext") or {}
    containers = [
        *(pod.get("containers") or []),
        *(pod.get("initContainers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]
    if not containers:
        problems.append("no containers")
    for volume in pod.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume.get('name')}: type {', '.join(sorted(types))} is not allowed")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not allowed")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"pod seccompProfile {pod_seccomp}")
    problems += _selinux_and_apparmor(pod_sc, "pod")
    for container in containers:
        name = f"container {container.get('name')}"
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true (pod or container)")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp} (RuntimeDefault or Localhost needed)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{name}: adds capabilities {', '.join(sorted(added))}")
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"{name}: procMount {sc.get('procMount')}")
        problems += _selinux_and_apparmor(sc, name)
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
        if sc.get("readOnlyRootFilesystem") is not True:  # our rule, beyond the profile
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
    return problems


def _selinux_and_apparmor(sc: dict[str, Any], where: str) -> list[str]:
    problems = []
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        problems.append(f"{where}: seLinuxOptions {selinux}")
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"{where}: appArmorProfile {apparmor}")
    return problems


# ---- secrets ------------------------------------------------------------------------------------------

SECRET_WORDS: Final = re.compile(r"password|passwd|token|secret|credential|apikey|privatekey|key", re.I)
# Names that hold a reference, not a secret: a Secret's name, the name of a key inside it, an id, a URL.
REFERENCE_NAME: Final = re.compile(
    r"(existingsecret|secretname|secretref|key|keys|keyid|url|file|name)$", re.I
)
# A key in a Secret, or a label key where a toleration or selector says "key" (nvidia.com/gpu).
SECRET_KEY_NAME: Final = re.compile(r"^[-._/a-zA-Z0-9]{1,253}$")
LOOKS_SECRET: Final = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # an AWS access key id
    re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9_+/=-]{20,}$"),  # a random-looking string
)


def secret_value_problems(values: Any, path: str = "") -> list[str]:
    """Values under a secret-sounding key that are not references, and any value that looks like a secret."""
    problems: list[str] = []
    if isinstance(values, dict):
        for key, value in values.items():
            here = f"{path}.{key}" if path else str(key)
            sensitive = bool(SECRET_WORDS.search(str(key))) and not isinstance(value, dict | list)
            if sensitive and value not in (None, "", False):
                if not REFERENCE_NAME.search(str(key)):
                    problems.append(
                        f"{here}: a secret-sounding key holds a value (reference it by Secret name)"
                    )
                elif str(key).lower().endswith("key") and not SECRET_KEY_NAME.match(str(value)):
                    problems.append(f"{here}: not the name of a key in a Secret")
            problems += secret_value_problems(value, here)
    elif isinstance(values, list):
        for i, item in enumerate(values):
            problems += secret_value_problems(item, f"{path}[{i}]")
    elif isinstance(values, str) and any(pattern.search(values) for pattern in LOOKS_SECRET):
        problems.append(f"{path}: looks like a secret value")
    return problems


def rendered_secret_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Secrets with data, and secret-sounding container variables given a literal value."""
    problems = [
        f"{name_of(obj)} carries data"
        for obj in objects
        if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData"))
    ]
    for obj in objects:
        for where, pod in pod_specs(obj):
            for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
                for env in container.get("env") or []:
                    name = str(env.get("name", ""))
                    words = set(name.upper().split("_"))
                    secretish = words & {"PASSWORD", "TOKEN", "SECRET", "KEY", "CREDENTIALS"}
                    # _FILE/_PATH name a mounted file; an _URL (OAuth token endpoint) or _ID is no secret
                    reference = name.rsplit("_", 1)[-1] in ("FILE", "PATH", "URL", "ID")
                    if secretish and not reference and "value" in env:
                        problems.append(f"{where} {container.get('name')}: {name} has a literal value")
    return problems
