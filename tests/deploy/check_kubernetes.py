"""Check of deploy/kubernetes/*.yaml (parsed with PyYAML; no cluster is needed or used).

The probes must hit Parley's health endpoints on the port the image exposes, the grace period
must cover the preStop pause, the drain timeout and Parley's close grace, the pod must run as
the image's non-root user with its keys from the `parley` Secret, the Service and the HPA must
point at the Deployment, and the HPA must add pods before they reach --max-sessions.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from deploycheck import (CPU_SECONDS_PER_SESSION_MINUTE, REPO, SESSIONS_PER_CORE, Problems, close_grace,
                         drain_timeout_default, option, read_dockerfile)


def cores(quantity: object) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def main() -> None:
    p = Problems("kubernetes")
    documents = []
    for path in sorted((REPO / "deploy/kubernetes").glob("*.yaml")):
        documents += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind = {}
    for name, document in documents:
        p.expect(document.get("kind") not in by_kind, f"{name}: a second {document.get('kind')}")
        by_kind[document.get("kind")] = document
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
        p.expect(kind in by_kind, f"no {kind} in deploy/kubernetes/")
    if p.items:
        p.finish()
    deployment, service, hpa = by_kind["Deployment"], by_kind["Service"], by_kind["HorizontalPodAutoscaler"]

    runtime = read_dockerfile(REPO / "Dockerfile").stages[-1]
    exposed = [int(w) for e in runtime.all("EXPOSE") for w in e.args.split()]
    user = runtime.last("USER")
    image_uid = int(user.args.split(":")[0]) if user and user.args.split(":")[0].isdigit() else None

    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    p.expect(deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), "the Deployment's selector misses its pods")
    containers = pod.get("containers", [])
    if not p.expect(len(containers) == 1, "the pod should run one container"):
        p.finish()
    container = containers[0]

    # Ports and probes line up with the image and Parley's endpoints.
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    p.expect(list(ports.values()) == exposed, f"containerPort {list(ports.values())} differs from the Dockerfile's EXPOSE {exposed}")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    p.expect(env.get("PORT", "8080") == str(exposed[0] if exposed else None), f"PORT={env.get('PORT')} is not the container port")

    def probe_port(probe: dict) -> int | None:
        port = probe.get("httpGet", {}).get("port")
        return ports.get(port) if isinstance(port, str) else port

    readiness, liveness = container.get("readinessProbe", {}), container.get("livenessProbe", {})
    p.expect(readiness.get("httpGet", {}).get("path") == "/health/ready", "the readiness probe is not GET /health/ready")
    p.expect(liveness.get("httpGet", {}).get("path") == "/health/live", "the liveness probe is not GET /health/live")
    for name, probe in (("readiness", readiness), ("liveness", liveness)):
        p.expect(probe_port(probe) in exposed, f"the {name} probe's port is not the container's")

    # The command: the image's (tini stays the entry point), every interface, the drain and the limit.
    args = container.get("args", [])
    p.expect("command" not in container, "command replaces the image's tini entry point; set args")
    p.expect(args[:2] == ["parley", "serve"] and option(args, "--host") == "0.0.0.0",
             f"args {args} do not run `parley serve --host 0.0.0.0`")

    # Graceful termination: preStop + drain + close grace < terminationGracePeriodSeconds.
    drain = int(option(args, "--drain-timeout") or drain_timeout_default() or 0)
    grace = close_grace()
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = int(pre_stop[1]) if len(pre_stop) == 2 and pre_stop[0] == "sleep" else 0
    period = pod.get("terminationGracePeriodSeconds", 30)
    p.expect(drain > 0, "no drain timeout (--drain-timeout, else Serve.swift's default)")
    if p.expect(grace is not None, "ServerLifecycle.closeGrace or HTTPServerService.closeLimit not found in the Swift sources; update tests/deploy"):
        p.expect(period > pause + drain + grace,
                 f"terminationGracePeriodSeconds {period} does not cover preStop {pause} + drain {drain} + close {grace} s")

    # Secrets, user, resources.
    sources = [s.get("secretRef", {}).get("name") for s in container.get("envFrom", [])]
    p.expect("parley" in sources, "the environment does not come from the Secret named parley")
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    p.expect(security.get("runAsNonRoot") is True, "runAsNonRoot is not set")
    p.expect(security.get("runAsUser") in (None, image_uid), f"runAsUser {security.get('runAsUser')} is not the image's uid {image_uid}")
    p.expect(container.get("image"), "no image")
    requests = container.get("resources", {}).get("requests", {})
    request_cores = cores(requests.get("cpu", 0))
    max_sessions = int(option(args, "--max-sessions") or 200)
    p.expect(request_cores > 0 and max_sessions == round(request_cores * SESSIONS_PER_CORE),
             f"--max-sessions {max_sessions} is not {SESSIONS_PER_CORE} sessions per requested core ({request_cores:g})")
    p.expect(requests.get("memory"), "no memory request")
    p.expect(container.get("resources", {}).get("limits", {}).get("memory"), "no memory limit")
    if security.get("readOnlyRootFilesystem"):
        mounts = [m.get("mountPath") for m in container.get("volumeMounts", [])]
        p.expect("/tmp" in mounts, "a read-only root file system without a writable /tmp (Parley's engine logs)")

    # Service: selects the pods, reaches the named port.
    p.expect(service["spec"].get("selector", {}).items() <= labels.items(), "the Service's selector misses the pods")
    for port in service["spec"].get("ports", []):
        target = port.get("targetPort")
        p.expect((ports.get(target) if isinstance(target, str) else target) in exposed,
                 f"the Service's targetPort {target} is not the container's port")

    # HPA: on this Deployment, CPU, and it fires before pods are full.
    target = hpa["spec"]["scaleTargetRef"]
    p.expect(target.get("kind") == "Deployment" and target.get("name") == deployment["metadata"]["name"],
             "the HPA does not scale the Deployment")
    cpu = [m["resource"]["target"] for m in hpa["spec"].get("metrics", [])
           if m.get("type") == "Resource" and m["resource"].get("name") == "cpu"]
    utilization = cpu[0].get("averageUtilization") if cpu and cpu[0].get("type") == "Utilization" else None
    full_pod_cores = max_sessions * CPU_SECONDS_PER_SESSION_MINUTE / 60
    if p.expect(utilization, "the HPA has no CPU utilization target"):
        p.expect(utilization / 100 * request_cores < full_pod_cores,
                 f"the HPA's {utilization} % of {request_cores:g} cores is reached only past {max_sessions} sessions "
                 f"({full_pod_cores:.2f} cores at {CPU_SECONDS_PER_SESSION_MINUTE} s per session-minute): pods fill before it scales")
    p.expect(hpa["spec"].get("minReplicas", 1) >= 2, "minReplicas below 2: one draining pod empties the Service")

    p.finish(lambda: f"{len(documents)} objects; probes /health/ready and /health/live on {exposed}; grace {period} s > "
             f"{pause}+{drain}+{grace} s; {max_sessions} sessions on {request_cores:g} cores; "
             f"HPA at {utilization} % ≈ {utilization / 100 * request_cores * 60 / CPU_SECONDS_PER_SESSION_MINUTE:.0f} sessions per pod")


if __name__ == "__main__":
    main()
