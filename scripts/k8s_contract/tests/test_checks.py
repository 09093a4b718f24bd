"""Tests of the contract check's own logic, on small hand-written manifests: run with
`python -m unittest discover -s scripts -p 'test_*.py'` (validate-k8s.sh does)."""

import tempfile
import textwrap
import unittest
from pathlib import Path

from k8s_contract.common import Report, duration_seconds, selector_matches
from k8s_contract.network import allowed, rule_ports_allow
from k8s_contract.render import Render
from k8s_contract.workloads import check_pod_rules

MANIFEST = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata: {name: portcullis}
    ---
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: api-to-issuer, namespace: portcullis}
    spec:
      podSelector: {matchLabels: {app: data-api}}
      policyTypes: [Egress]
      egress:
        - to: [{podSelector: {matchLabels: {app: auth-issuer}}}]
          ports: [{port: 8080}]
    ---
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: issuer-from-api, namespace: portcullis}
    spec:
      podSelector: {matchLabels: {app: auth-issuer}}
      policyTypes: [Ingress]
      ingress:
        - from: [{podSelector: {matchLabels: {app: data-api}}}]
          ports: [{port: 8080, protocol: TCP}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: data-api, namespace: portcullis}
    spec:
      template:
        metadata: {labels: {app: data-api}}
        spec:
          serviceAccountName: data-api
          volumes: [{name: tmp, emptyDir: {}}, {name: host, hostPath: {path: /}}]
          containers: [{name: api}, {name: api}]
    """)


def render(text: str = MANIFEST) -> Render:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    return Render("test", Path(f.name), Report())


class Helpers(unittest.TestCase):
    def test_durations_read_the_services_syntax(self):
        self.assertEqual(duration_seconds("20s"), 20)
        self.assertEqual(duration_seconds("1m 30s"), 90)
        self.assertEqual(duration_seconds("250ms"), 0.25)
        for bad in ("", "20", "5 parsecs", "1m x"):
            with self.assertRaises(ValueError, msg=bad):
                duration_seconds(bad)

    def test_selectors_follow_label_selector_semantics(self):
        labels = {"app": "data-api", "tier": "api"}
        self.assertTrue(selector_matches({"matchLabels": {"app": "data-api"}}, labels))
        self.assertFalse(selector_matches({"matchLabels": {"app": "issuer"}}, labels))
        self.assertFalse(selector_matches(None, labels), "no selector selects nothing")
        expr = {"key": "tier", "operator": "In", "values": ["api", "web"]}
        self.assertTrue(selector_matches({"matchExpressions": [expr]}, labels))
        absent = {"key": "tier", "operator": "DoesNotExist"}
        self.assertFalse(selector_matches({"matchExpressions": [absent]}, labels))

    def test_rule_ports(self):
        self.assertTrue(rule_ports_allow({}, 8080, "TCP"), "no ports: every port")
        self.assertTrue(rule_ports_allow({"ports": [{"port": 8080}]}, 8080, "TCP"))
        self.assertFalse(rule_ports_allow({"ports": [{"port": 8080}]}, 8081, "TCP"))
        self.assertFalse(rule_ports_allow({"ports": [{"port": 53}]}, 53, "UDP"))


class NetworkPolicies(unittest.TestCase):
    def test_a_flow_needs_egress_and_ingress(self):
        r = render()
        api, issuer = {"app": "data-api"}, {"app": "auth-issuer"}
        self.assertEqual(allowed(r, api, issuer, 8080), (True, True))
        self.assertEqual(allowed(r, api, issuer, 8081), (False, False), "wrong port")
        self.assertEqual(allowed(r, issuer, api, 8081), (False, False),
                         "under default deny, a flow no policy allows is refused on both ends")


class PodRules(unittest.TestCase):
    def test_what_checkov_leaves_out_is_caught(self):
        r = render()
        check_pod_rules(r, r.pods[0])
        problems = "\n".join(r.report.problems)
        self.assertIn("ServiceAccount data-api is missing", problems)
        self.assertIn("type hostPath is not allowed", problems)
        self.assertIn("container names repeat", problems)
        self.assertEqual(len(r.report.problems), 3, problems)


if __name__ == "__main__":
    unittest.main()
