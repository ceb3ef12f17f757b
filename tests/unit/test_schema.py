"""The declarative schema: strict decoding checks and OpenAPI rendering."""

from __future__ import annotations

from typing import Any

import pytest

from kemu.api import schema
from kemu.api.kinds import KINDS


def deployment(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": body}


class TestTables:
    def test_every_served_kind_has_a_schema(self) -> None:
        """Each kind in the KINDS registry has a top-level schema."""
        assert set(schema.SCHEMAS) == set(KINDS)

    @pytest.mark.parametrize("kind_name", sorted(KINDS))
    def test_group_version_kind_matches_registry(self, kind_name: str) -> None:
        """A schema's group/version/kind is the one the registry serves."""
        info = KINDS[kind_name]
        assert schema.SCHEMAS[kind_name].gvk == (info.group, info.version, kind_name)

    @pytest.mark.parametrize(
        ("typ", "go_name"),
        [
            (schema.POD_SPEC, "v1.PodSpec"),
            (schema.OBJECT_META, "v1.ObjectMeta"),
            (schema.list_of(schema.CONTAINER), "[]v1.Container"),
            (schema.LABELS, "map[string]string"),
            (schema.RESOURCE_LIST, "v1.ResourceList"),
            (schema.INT32, "int32"),
            (schema.INT_OR_STRING, "intstr.IntOrString"),
        ],
    )
    def test_go_names(self, typ: schema.Type, go_name: str) -> None:
        """Types are named the way Go's decoder names them in errors."""
        assert typ.go_name == go_name

    def test_schema_for_unknown_kind(self) -> None:
        """An unknown kind has no schema."""
        assert schema.schema_for("CronJob") is None


class TestCheck:
    def test_valid_object_has_no_problems(self) -> None:
        """A well-typed object with known fields passes."""
        assert not schema.check(deployment(), schema.DEPLOYMENT)

    def test_null_is_always_accepted(self) -> None:
        """JSON null leaves the zero value, as Go's decoder does."""
        obj = deployment(replicas=None)
        obj["metadata"]["creationTimestamp"] = None
        assert not schema.check(obj, schema.DEPLOYMENT)

    def test_unknown_fields_listed_in_document_order(self) -> None:
        """Every unknown field is reported with its full path and indices."""
        obj = deployment(replica=3)
        obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
        found = schema.check(obj, schema.DEPLOYMENT)
        assert found.unknown_fields == ["spec.template.spec.containers[0].imagePullPolice", "spec.replica"]
        assert found.type_error is None

    @pytest.mark.parametrize(
        ("obj_spec", "message", "path"),
        [
            (
                {"replicas": "three"},
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
                "spec.replicas",
            ),
            (
                {"replicas": 2.5},
                "json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
                "spec.replicas",
            ),
            (
                {"replicas": 3_000_000_000},
                "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of "
                "type int32",
                "spec.replicas",
            ),
            (
                {"replicas": True},
                "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32",
                "spec.replicas",
            ),
            (
                {"paused": "yes"},
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
                "spec.paused",
            ),
            (
                {"selector": ["app"]},
                "json: cannot unmarshal array into Go struct field DeploymentSpec.spec.selector of type "
                "v1.LabelSelector",
                "spec.selector",
            ),
            (
                {"strategy": {"rollingUpdate": {"maxSurge": True}}},
                "json: cannot unmarshal bool into Go struct field "
                "RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge"
                " of type intstr.IntOrString",
                "spec.strategy.rollingUpdate.maxSurge",
            ),
        ],
    )
    def test_type_errors_name_the_field(self, obj_spec: dict[str, Any], message: str, path: str) -> None:
        """A wrong type is reported as Go's decoder reports it, with the field path."""
        found = schema.check(deployment(**obj_spec), schema.DEPLOYMENT)
        assert (found.type_error, found.type_error_field) == (message, path)

    def test_list_item_of_wrong_type(self) -> None:
        """A list element of the wrong type names the list and the element type."""
        obj = deployment()
        obj["spec"]["template"]["spec"]["containers"] = ["nginx"]
        found = schema.check(obj, schema.DEPLOYMENT)
        assert found.type_error == (
            "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type "
            "v1.Container"
        )
        assert found.type_error_field == "spec.template.spec.containers[0]"

    def test_map_value_of_wrong_type(self) -> None:
        """A number as a label value is refused, as by the apiserver."""
        obj = deployment()
        obj["metadata"]["labels"] = {"version": 1}
        found = schema.check(obj, schema.DEPLOYMENT)
        assert (
            found.type_error
            == "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        )
        assert found.type_error_field == "metadata.labels[version]"

    def test_bad_quantity(self) -> None:
        """An unparseable quantity fails with ParseQuantity's message, at its path."""
        obj = deployment()
        obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
        found = schema.check(obj, schema.DEPLOYMENT)
        assert found.type_error == (
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
        assert found.type_error_field == "spec.template.spec.containers[0].resources.limits[cpu]"

    @pytest.mark.parametrize("value", ["500m", 1, 0.5, "1Gi"])
    def test_quantities_accept_numbers_and_strings(self, value: Any) -> None:
        """Quantities may be written as YAML numbers or strings."""
        obj = deployment()
        obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": value}}
        assert not schema.check(obj, schema.DEPLOYMENT)

    @pytest.mark.parametrize("port", [80, "http"])
    def test_int_or_string_accepts_both(self, port: Any) -> None:
        """An IntOrString field takes a number or a name."""
        svc = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": port}]}}
        assert not schema.check(svc, schema.SERVICE)

    @pytest.mark.parametrize("stamp", ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456+02:00"])
    def test_rfc3339_times_accepted(self, stamp: str) -> None:
        """RFC 3339 timestamps, with or without fraction, are accepted."""
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "creationTimestamp": stamp}}
        assert not schema.check(obj, schema.NAMESPACE)

    def test_naive_time_refused(self) -> None:
        """A timestamp without a zone is not RFC 3339."""
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "x", "creationTimestamp": "2024-05-01 10:00"},
        }
        found = schema.check(obj, schema.NAMESPACE)
        assert found.type_error == (
            'parsing time "2024-05-01 10:00" as "2006-01-02T15:04:05Z07:00": cannot parse " 10:00" as "T"'
        )

    def test_binary_data_must_be_base64(self) -> None:
        """ConfigMap binaryData values are base64."""
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "binaryData": {"a": "no!"}}
        assert schema.check(obj, schema.CONFIG_MAP).type_error == "illegal base64 data at input byte 2"

    def test_free_form_fields_not_looked_into(self) -> None:
        """ANY fields (managedFields entries) accept anything."""
        obj = deployment()
        obj["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}, "whatever": 1}]
        assert not schema.check(obj, schema.DEPLOYMENT)

    def test_type_error_reported_with_unknown_fields(self) -> None:
        """Both findings are kept; callers decide which to report first."""
        found = schema.check(deployment(replicas="x", bogus=1), schema.DEPLOYMENT)
        assert found.type_error is not None and found.unknown_fields == ["spec.bogus"]


class TestOpenAPI:
    def test_definitions_cover_every_kind(self) -> None:
        """Each kind's definition carries its group/version/kind for kubectl explain."""
        definitions = schema.to_openapi_v2()["definitions"]
        assert definitions["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
            {"group": "apps", "kind": "Deployment", "version": "v1"}
        ]
        assert "io.k8s.api.coordination.v1.Lease" in definitions

    def test_references_resolve(self) -> None:
        """Every $ref points at a definition in the document."""
        document = schema.to_openapi_v2()
        definitions = document["definitions"]

        def refs(node: Any) -> list[str]:
            if isinstance(node, dict):
                found = [node["$ref"]] if "$ref" in node else []
                return found + [r for value in node.values() for r in refs(value)]
            return []

        missing = {r for r in refs(document) if r.removeprefix("#/definitions/") not in definitions}
        assert missing == set()

    def test_field_shapes(self) -> None:
        """Scalars, lists, maps and required fields render as OpenAPI v2."""
        definitions = schema.to_openapi_v2()["definitions"]
        container = definitions["io.k8s.api.core.v1.Container"]
        assert container["required"] == ["name"]
        assert container["properties"]["args"] == {"type": "array", "items": {"type": "string"}}
        port = definitions["io.k8s.api.core.v1.ContainerPort"]["properties"]["containerPort"]
        assert port == {"type": "integer", "format": "int32"}
        limits = definitions["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
        assert limits == {
            "type": "object",
            "additionalProperties": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        }
        assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
            "type": "string",
            "format": "int-or-string",
        }
