"""Chart tests: render helm/dc-gateway for the main value combinations (through Helm's own
engine, the helm-python-sdk shim) and assert what the manifests must say. Each render's
config.toml is also checked by the gateway itself (`dc-gateway check-config`) when DCGW_BIN
names the binary.

Run by scripts/helm-check.sh with the helm venv's python; HELM names the shim.
"""
import os
import subprocess
import tempfile
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "helm", "dc-gateway")
CI = os.path.join(CHART, "ci")
HELM = os.environ.get("HELM", "helm")
BIN = os.environ.get("DCGW_BIN")


def render(*values, sets=(), expect_fail=False):
    args = [HELM, "template", "rel", CHART]
    for v in values:
        args += ["-f", os.path.join(CI, v)]
    for s in sets:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True)
    if expect_fail:
        if p.returncode == 0:
            raise AssertionError(f"rendering {values} {sets} should fail")
        return p.stderr + p.stdout
    if p.returncode != 0:
        raise AssertionError(f"helm template failed: {p.stderr}")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def one(manifests, kind):
    found = [d for (k, _), d in manifests.items() if k == kind]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} {kind} manifests")
    return found[0]


def kinds(manifests):
    return sorted(k for (k, _) in manifests)


def container(manifests):
    return one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env(manifests):
    return {e["name"]: e for e in container(manifests)["env"]}


def config_toml(manifests):
    return manifests[("ConfigMap", "rel-dc-gateway")]["data"]["config.toml"]


class DefaultValues(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = render()

    def test_the_resources_of_a_replicated_setup(self):
        self.assertEqual(
            kinds(self.m),
            ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"],
        )
        self.assertEqual(one(self.m, "Deployment")["spec"]["replicas"], 2)

    def test_probes_on_healthz_and_readyz(self):
        c = container(self.m)
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"})
        self.assertEqual(c["startupProbe"]["httpGet"]["path"], "/healthz")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"http": 8080, "metrics": 9100})

    def test_locked_down_security_context(self):
        c = container(self.m)
        sc = c["securityContext"]
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        pod = one(self.m, "Deployment")["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["runAsUser"], 65532)
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        self.assertFalse(pod["automountServiceAccountToken"])
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        self.assertEqual(mounts["data"], "/var/lib/dc-gateway")
        self.assertEqual(mounts["tmp"], "/tmp")

    def test_database_and_session_secrets_are_mounted_files(self):
        e = env(self.m)
        self.assertEqual(e["DCGW__DATABASE__URL_FILE"]["value"], "/run/secrets/dc-gateway/database/url")
        self.assertEqual(e["DCGW__SESSION__SECRET_FILE"]["value"], "/run/secrets/dc-gateway/session/secret")
        vols = {v["name"]: v for v in one(self.m, "Deployment")["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(vols["database"]["secret"]["secretName"], "dc-gateway-database")
        self.assertEqual(vols["session"]["secret"]["secretName"], "dc-gateway-session")
        self.assertNotIn("Secret", kinds(self.m), "existing Secrets are referenced, not created")
        self.assertEqual(e["DCGW__SERVER__LISTEN"]["value"], "0.0.0.0:8080")
        self.assertEqual(e["DCGW__TELEMETRY__METRICS_LISTEN"]["value"], "0.0.0.0:9100")

    def test_metrics_have_their_own_service_and_the_public_one_does_not_route_them(self):
        public = self.m[("Service", "rel-dc-gateway")]
        self.assertEqual([p["targetPort"] for p in public["spec"]["ports"]], ["http"])
        metrics = self.m[("Service", "rel-dc-gateway-metrics")]
        self.assertEqual([p["targetPort"] for p in metrics["spec"]["ports"]], ["metrics"])

    def test_the_default_login_lets_nobody_in(self):
        toml = config_toml(self.m)
        self.assertIn('kind = "header"', toml)
        self.assertIn("trusted_proxies = []", toml)
        self.assertIn("secure_cookies = true", toml)

    def test_no_optional_resources(self):
        for k in ["Ingress", "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy", "Secret"]:
            self.assertNotIn(k, kinds(self.m))


class ReplicatedPostgres(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = render("replicated-postgres-values.yaml")

    def test_hpa_replaces_the_replica_count(self):
        hpa = one(self.m, "HorizontalPodAutoscaler")
        self.assertEqual((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]), (3, 10))
        self.assertNotIn("replicas", one(self.m, "Deployment")["spec"])

    def test_ingress_host_and_tls_come_from_the_public_url(self):
        ing = one(self.m, "Ingress")
        self.assertEqual(ing["spec"]["rules"][0]["host"], "dc.registrar.example")
        self.assertEqual(ing["spec"]["tls"][0], {"hosts": ["dc.registrar.example"], "secretName": "dc-registrar-tls"})
        self.assertEqual(ing["spec"]["ingressClassName"], "nginx")
        backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        self.assertEqual(backend, {"name": "rel-dc-gateway", "port": {"name": "http"}})
        self.assertEqual(env(self.m)["DCGW__SERVER__PUBLIC_URL"]["value"], "https://dc.registrar.example")

    def test_existing_secret_with_its_own_key(self):
        self.assertEqual(env(self.m)["DCGW__DATABASE__URL_FILE"]["value"], "/run/secrets/dc-gateway/database/uri")
        vols = {v["name"]: v for v in one(self.m, "Deployment")["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(vols["database"]["secret"]["secretName"], "dcgw-postgres")
        self.assertEqual(vols["secret-pdns"]["secret"]["secretName"], "powerdns-api-key")
        self.assertEqual(vols["secret-tsig"]["secret"]["secretName"], "bind-tsig-key")
        self.assertEqual(
            env(self.m)["DCGW__LOGIN__OIDC__CLIENT_SECRET"]["valueFrom"]["secretKeyRef"],
            {"name": "dcgw-oidc", "key": "client-secret"},
        )

    def test_service_monitor_scrapes_the_metrics_service(self):
        sm = one(self.m, "ServiceMonitor")
        self.assertEqual(sm["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(sm["metadata"]["labels"]["release"], "prometheus")
        self.assertEqual(sm["spec"]["endpoints"], [{"port": "metrics", "path": "/metrics", "interval": "30s"}])
        self.assertEqual(sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"], "metrics")

    def test_network_policy_opens_http_to_the_ingress_and_metrics_to_monitoring(self):
        np = one(self.m, "NetworkPolicy")
        rules = np["spec"]["ingress"]
        self.assertEqual(rules[0]["ports"], [{"port": "http", "protocol": "TCP"}])
        self.assertEqual(rules[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "ingress-nginx")
        self.assertEqual(rules[1]["ports"], [{"port": "metrics", "protocol": "TCP"}])
        self.assertEqual(rules[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "monitoring")

    def test_templates_configmap_is_mounted(self):
        cm = self.m[("ConfigMap", "rel-dc-gateway-templates")]
        self.assertIn("demo.dc-gateway.example.website.json", cm["data"])
        mounts = {m["name"]: m["mountPath"] for m in container(self.m)["volumeMounts"]}
        self.assertEqual(mounts["templates"], "/etc/dc-gateway/templates")

    def test_otel_and_irsa(self):
        self.assertEqual(env(self.m)["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"], "http://otel-collector.observability:4318")
        sa = one(self.m, "ServiceAccount")
        self.assertIn("eks.amazonaws.com/role-arn", sa["metadata"]["annotations"])


class OtherCombinations(unittest.TestCase):
    def test_single_replica_sqlite_with_inline_session_secret(self):
        m = render("single-sqlite-values.yaml")
        self.assertEqual(one(m, "Deployment")["spec"]["replicas"], 1)
        self.assertNotIn("DCGW__DATABASE__URL_FILE", env(m))
        secret = one(m, "Secret")
        self.assertEqual(secret["metadata"]["name"], "rel-dc-gateway-session")
        self.assertEqual(env(m)["DCGW__SESSION__SECRET_FILE"]["value"], "/run/secrets/dc-gateway/session/secret")
        self.assertNotIn("metrics", [p["name"] for p in container(m)["ports"]])
        self.assertEqual(kinds(m).count("Service"), 1)

    def test_inline_database_url_and_existing_templates_configmap(self):
        m = render("inline-secrets-values.yaml")
        self.assertEqual(one(m, "Secret")["stringData"]["url"], "postgres://dcgw:secret@postgres.db:5432/dcgw")
        vols = {v["name"]: v for v in one(m, "Deployment")["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(vols["templates"]["configMap"]["name"], "my-domain-connect-templates")
        self.assertIn('id = "example.org"', config_toml(m))

    def test_config_changes_roll_the_pods(self):
        a = one(render(), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        b = one(render(sets=["config.provider.name=Other"]), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        self.assertNotEqual(a, b)
        c = one(render(), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        self.assertEqual(a, c, "the checksum is stable")

    def test_several_replicas_without_a_database_are_refused(self):
        out = render(sets=["database.existingSecret=", "replicaCount=3"], expect_fail=True)
        self.assertTrue("PostgreSQL" in out or "database" in out, out)

    def test_a_misspelt_value_is_refused(self):
        out = render(sets=["replicaCont=3"], expect_fail=True)
        self.assertIn("replicaCont", out)
        out = render(sets=["ingress.enabeld=true"], expect_fail=True)
        self.assertIn("enabeld", out)

    def test_a_public_url_without_scheme_is_refused(self):
        render(sets=["publicUrl=dc.example.net"], expect_fail=True)


@unittest.skipUnless(BIN, "DCGW_BIN not set")
class GatewayAcceptsTheRenderedConfig(unittest.TestCase):
    def check(self, *values):
        toml = config_toml(render(*values))
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(toml)
        try:
            p = subprocess.run([BIN, "check-config", "--config", f.name, "--no-env"], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 0, p.stderr + toml)
        return p.stdout

    def test_default(self):
        self.assertIn("login header", self.check())

    def test_replicated(self):
        out = self.check("replicated-postgres-values.yaml")
        self.assertIn("login oidc, authz webhook", out)
        self.assertIn("4 backend(s)", out)

    def test_a_misspelt_backend_key_is_caught(self):
        toml = config_toml(render("replicated-postgres-values.yaml")).replace("tsig_secret_file", "tsig_secret_fiel")
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(toml)
        try:
            p = subprocess.run([BIN, "check-config", "--config", f.name, "--no-env"], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 2)
        self.assertIn("tsig_secret_fiel", p.stderr)

    def test_inline(self):
        self.check("inline-secrets-values.yaml")

    def test_a_broken_config_is_caught(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('[server]\npublic_ulr = "https://x"\n')
        try:
            p = subprocess.run([BIN, "check-config", "--config", f.name, "--no-env"], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 2)
        self.assertIn("public_ulr", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
