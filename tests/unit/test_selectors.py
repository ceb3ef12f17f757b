"""Tests for kemu.api.selectors, mostly with the Kubernetes docs' own examples
(concepts/overview/working-with-objects/labels and field-selectors)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from kemu.api.selectors import (
    Everything,
    FieldOperator,
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Nothing,
    Operator,
    Requirement,
    field_value,
    selectable_fields,
    selector_matches,
    supported_fields,
    validate_label_key,
    validate_label_value,
)

PROD_FRONTEND = {"environment": "production", "tier": "frontend"}
QA_BACKEND = {"environment": "qa", "tier": "backend", "partition": "customerA"}
DEV_CACHE = {"environment": "dev", "tier": "cache"}
NO_LABELS: dict[str, str] = {}


class TestLabelSelectorParse:
    @pytest.mark.parametrize(
        ("text", "labels", "expected"),
        [
            ("environment = production", PROD_FRONTEND, True),
            ("environment = production", QA_BACKEND, False),
            ("environment == production", PROD_FRONTEND, True),
            ("tier != frontend", PROD_FRONTEND, False),
            ("tier != frontend", QA_BACKEND, True),
            ("tier != frontend", NO_LABELS, True),
            ("environment=production,tier!=frontend", PROD_FRONTEND, False),
            ("environment in (production, qa)", QA_BACKEND, True),
            ("environment in (production, qa)", DEV_CACHE, False),
            ("environment in (production, qa)", NO_LABELS, False),
            ("tier notin (frontend, backend)", DEV_CACHE, True),
            ("tier notin (frontend, backend)", QA_BACKEND, False),
            ("tier notin (frontend, backend)", NO_LABELS, True),
            ("partition", QA_BACKEND, True),
            ("partition", PROD_FRONTEND, False),
            ("!partition", PROD_FRONTEND, True),
            ("!partition", QA_BACKEND, False),
            ("environment,environment notin (frontend)", DEV_CACHE, True),
            ("environment,environment notin (frontend)", NO_LABELS, False),
            ("environment=", NO_LABELS, False),
            ("environment=", {"environment": ""}, True),
            ("", PROD_FRONTEND, True),
        ],
    )
    def test_docs_examples(self, text: str, labels: dict[str, str], expected: bool) -> None:
        """Each example from the labels page selects what the page says it selects."""
        assert LabelSelector.parse(text).matches(labels) is expected

    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            (
                "app=web,tier!=db,env in (b,a),env notin (c),!legacy,has",
                "app=web,env in (a,b),env notin (c),has,!legacy,tier!=db",
            ),
            ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
            ("  a == b ", "a==b"),
            ("replicas>3", "replicas>3"),
            ("x in (in)", "x in (in)"),
            ("example.com/tier=db", "example.com/tier=db"),
        ],
    )
    def test_to_string_is_canonical(self, text: str, canonical: str) -> None:
        """to_string() sorts terms by key and values within a set, as apimachinery prints them."""
        assert LabelSelector.parse(text).to_string() == canonical

    def test_to_string_round_trips(self) -> None:
        """Parsing the printed form gives an equal selector."""
        selector = LabelSelector.parse("app=web,env in (a,b),!legacy")
        assert LabelSelector.parse(selector.to_string()) == selector

    def test_blank_is_everything(self) -> None:
        """An empty or blank string parses to Everything."""
        assert LabelSelector.parse("   ") == Everything
        assert LabelSelector.parse("").empty is True

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("app in", "unable to parse requirement: found '' expected: '('"),
            ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            ("a=(", "unable to parse requirement: found '(', expected: identifier"),
            ("!a=b", "found '=', expected: ',' or 'end of string'"),
            ("a=b=c", "found '=', expected: ',' or 'end of string'"),
            ("a,", "found '', expected: identifier after ','"),
            (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ],
    )
    def test_syntax_errors_read_like_kubectl(self, text: str, message: str) -> None:
        """Bad syntax raises ValueError with apimachinery's wording."""
        with pytest.raises(ValueError) as info:
            LabelSelector.parse(text)
        assert str(info.value) == message

    def test_invalid_key_names_the_rule(self) -> None:
        """A key that is not a qualified name is rejected with the validation rule."""
        with pytest.raises(
            ValueError, match=r'^unable to parse requirement: Invalid value: "a@b": name part must consist'
        ):
            LabelSelector.parse("a@b=c")

    def test_invalid_value_names_the_path(self) -> None:
        """A bad value is reported at values[i][key]."""
        with pytest.raises(ValueError, match=r'values\[0\]\[app\]: Invalid value: "web@1": a valid label must be'):
            LabelSelector.parse("app=web@1")

    def test_not_a_string(self) -> None:
        """Only strings parse."""
        with pytest.raises(ValueError, match="must be a string"):
            LabelSelector.parse(None)  # type: ignore[arg-type]


class TestLabelSelectorFromDict:
    DOCS_SELECTOR: ClassVar[dict[str, Any]] = {
        "matchLabels": {"component": "redis"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["cache"]},
            {"key": "environment", "operator": "NotIn", "values": ["dev"]},
        ],
    }

    @pytest.mark.parametrize(
        ("labels", "expected"),
        [
            ({"component": "redis", "tier": "cache", "environment": "qa"}, True),
            ({"component": "redis", "tier": "cache"}, True),
            ({"component": "redis", "tier": "cache", "environment": "dev"}, False),
            ({"component": "redis", "tier": "frontend"}, False),
            ({"tier": "cache"}, False),
        ],
    )
    def test_docs_example(self, labels: dict[str, str], expected: bool) -> None:
        """The labels page's matchLabels + matchExpressions example ANDs every term."""
        assert LabelSelector.from_dict(self.DOCS_SELECTOR).matches(labels) is expected

    def test_to_string(self) -> None:
        """The API shape prints in the string syntax."""
        assert LabelSelector.from_dict(self.DOCS_SELECTOR).to_string() == (
            "component=redis,environment notin (dev),tier in (cache)"
        )

    @pytest.mark.parametrize(
        ("expression", "labels", "expected"),
        [
            ({"key": "gpu", "operator": "Exists"}, {"gpu": ""}, True),
            ({"key": "gpu", "operator": "Exists"}, NO_LABELS, False),
            ({"key": "gpu", "operator": "DoesNotExist"}, NO_LABELS, True),
            ({"key": "gpu", "operator": "DoesNotExist"}, {"gpu": "a100"}, False),
        ],
    )
    def test_exists_operators(self, expression: dict, labels: dict[str, str], expected: bool) -> None:
        """Exists and DoesNotExist look at the key only."""
        assert LabelSelector.from_dict({"matchExpressions": [expression]}).matches(labels) is expected

    def test_empty_dict_selects_everything(self) -> None:
        """An empty LabelSelector ({}) selects every object."""
        assert LabelSelector.from_dict({}) == Everything
        assert LabelSelector.from_dict({}).matches(NO_LABELS) is True

    def test_none_selects_nothing(self) -> None:
        """A missing selector (None) selects no object, as LabelSelectorAsSelector."""
        assert LabelSelector.from_dict(None) is Nothing
        assert Nothing.matches(PROD_FRONTEND) is False
        assert Nothing.empty is False

    @pytest.mark.parametrize(
        ("selector", "message"),
        [
            (
                {"matchExpressions": [{"key": "tier", "operator": "In"}]},
                "matchExpressions[0].values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
            ),
            (
                {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": []}]},
                "matchExpressions[0].values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
            ),
            (
                {"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]},
                'matchExpressions[0].values: Invalid value: ["a"]: values set must be empty for exists and does not exist',
            ),
            (
                {"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["a"]}]},
                'matchExpressions[0].operator: "Like" is not a valid label selector operator',
            ),
            ({"app": "web"}, 'unknown field "app" in a label selector (want matchLabels, matchExpressions)'),
        ],
    )
    def test_validation(self, selector: dict, message: str) -> None:
        """Invalid API selectors raise ValueError naming the field."""
        with pytest.raises(ValueError) as info:
            LabelSelector.from_dict(selector)
        assert str(info.value) == message

    def test_from_labels_is_exact_match(self) -> None:
        """A plain label map (a Service's selector) requires every pair."""
        selector = LabelSelector.from_labels({"app": "web", "tier": "fe"})
        assert selector.to_string() == "app=web,tier=fe"
        assert selector.matches({"app": "web", "tier": "fe", "x": "y"}) is True
        assert selector.matches({"app": "web"}) is False

    def test_from_labels_empty_is_everything(self) -> None:
        """An empty label map selects everything, as SelectorFromSet."""
        assert LabelSelector.from_labels({}) == Everything


class TestIndexSupport:
    def test_equality_terms(self) -> None:
        """equality_terms() lists keys pinned to one value by =, == or a one-value in."""
        selector = LabelSelector.parse("app=web,env in (prod),tier in (a,b),x!=y,has,zone==eu")
        assert selector.equality_terms() == {"app": "web", "env": "prod", "zone": "eu"}

    @pytest.mark.parametrize(("key", "value"), [("app", "web"), ("tier", None), ("missing", None)])
    def test_requires_exact_match(self, key: str, value: str | None) -> None:
        """requires_exact_match() gives the pinned value or None."""
        assert LabelSelector.parse("app=web,tier!=db").requires_exact_match(key) == value

    def test_requirements_are_sorted_by_key(self) -> None:
        """requirements holds the terms sorted by key, with typed operators."""
        selector = LabelSelector.parse("b=1,a in (x)")
        assert selector.requirements == (
            Requirement("a", Operator.IN, ("x",)),
            Requirement("b", Operator.EQUALS, ("1",)),
        )

    def test_selectors_are_hashable(self) -> None:
        """Equal selectors hash equal, so they can key a cache."""
        assert {LabelSelector.parse("a=1,b=2"), LabelSelector.parse("b=2,a=1")} == {LabelSelector.parse("a=1,b=2")}


class TestRequirement:
    @pytest.mark.parametrize(
        ("op", "value", "labels", "expected"),
        [
            (Operator.GREATER_THAN, "3", {"replicas": "4"}, True),
            (Operator.GREATER_THAN, "3", {"replicas": "3"}, False),
            (Operator.LESS_THAN, "3", {"replicas": "2"}, True),
            (Operator.LESS_THAN, "3", {"replicas": "two"}, False),
            (Operator.LESS_THAN, "3", NO_LABELS, False),
        ],
    )
    def test_numeric_operators(self, op: Operator, value: str, labels: dict[str, str], expected: bool) -> None:
        """Gt and Lt compare integers and fail on a missing or non-numeric label."""
        assert Requirement.make("replicas", op, [value]).matches(labels) is expected

    def test_exact_operators_need_one_value(self) -> None:
        """=, == and != take exactly one value."""
        with pytest.raises(ValueError, match="exact-match compatibility requires one single value"):
            Requirement.make("a", Operator.EQUALS, ["1", "2"])


class TestSelectorMatches:
    @pytest.mark.parametrize(
        ("selector", "labels", "expected"),
        [
            (None, PROD_FRONTEND, False),
            ({}, PROD_FRONTEND, True),
            ({"matchLabels": {"tier": "frontend"}}, PROD_FRONTEND, True),
            ({"matchLabels": {"tier": "frontend"}}, None, False),
        ],
    )
    def test_convenience(self, selector: dict | None, labels: dict[str, str] | None, expected: bool) -> None:
        """selector_matches() applies the None-is-nothing, empty-is-everything rule."""
        assert selector_matches(selector, labels) is expected


class TestLabelValidation:
    @pytest.mark.parametrize("key", ["app", "app.kubernetes.io/name", "a_b-c.d", "A1", "x" * 63])
    def test_valid_keys(self, key: str) -> None:
        """Qualified names, with or without a DNS prefix, are valid keys."""
        assert validate_label_key(key) == []

    @pytest.mark.parametrize(
        ("key", "problem"),
        [
            ("", "name part must be non-empty"),
            ("/app", "prefix part must be non-empty"),
            ("x" * 64, "name part must be no more than 63 characters"),
            ("Example.com/app", "prefix part a lowercase RFC 1123 subdomain"),
            ("a/b/c", "a qualified name must consist of"),
            ("-app", "name part must consist of"),
        ],
    )
    def test_invalid_keys(self, key: str, problem: str) -> None:
        """Each broken rule is reported in apimachinery's words."""
        assert any(p.startswith(problem) for p in validate_label_key(key))

    @pytest.mark.parametrize(("value", "valid"), [("", True), ("v1.2_3-x", True), ("-x", False), ("x" * 64, False)])
    def test_values(self, value: str, valid: bool) -> None:
        """Label values may be empty, else alphanumeric at both ends, at most 63 characters."""
        assert (validate_label_value(value) == []) is valid


POD = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
    "status": {"phase": "Running", "podIPs": [{"ip": "127.244.1.5"}]},
}


class TestFieldSelector:
    @pytest.mark.parametrize(
        ("text", "obj", "expected"),
        [
            ("metadata.name=web-1", POD, True),
            ("metadata.name==web-1", POD, True),
            ("metadata.namespace!=default", POD, False),
            ("status.phase=Pending", POD, False),
            ("status.phase!=Running,spec.restartPolicy=Always", POD, False),
            ("status.phase=Running,spec.restartPolicy=Always", POD, True),
            ("spec.nodeName=", POD, False),
            ("spec.nodeName!=", POD, True),
            ("spec.nodeName=", {"kind": "Pod", "spec": {}}, True),
            ("status.podIP=127.244.1.5", POD, True),
            ("", POD, True),
        ],
    )
    def test_matches(self, text: str, obj: dict, expected: bool) -> None:
        """Terms compare string values; a missing field reads as the empty string."""
        assert FieldSelector.parse(text).matches(obj) is expected

    def test_fields(self) -> None:
        """fields() lists the paths the selector reads."""
        assert FieldSelector.parse("spec.nodeName=a,status.phase!=Failed").fields() == {"spec.nodeName", "status.phase"}

    def test_parse_sorts_terms(self) -> None:
        """Terms are kept sorted, so equal selectors compare equal."""
        assert FieldSelector.parse("b=1,a=2") == FieldSelector.parse("a=2,b=1")
        assert FieldSelector.parse("b=1,a=2").to_string() == "a=2,b=1"

    def test_operator_precedence(self) -> None:
        """At each position != and == are tried before =."""
        assert FieldSelector.parse("a!=b").requirements == (FieldRequirement("a", FieldOperator.NOT_EQUALS, "b"),)
        assert FieldSelector.parse("a==b").requirements == (FieldRequirement("a", FieldOperator.DOUBLE_EQUALS, "b"),)

    def test_escapes(self) -> None:
        """Backslash escapes a comma, an equals sign or a backslash in a value."""
        selector = FieldSelector.parse(r"metadata.name=a\,b\=c\\d")
        assert selector.requirements[0].value == "a,b=c\\d"
        assert FieldSelector.parse(selector.to_string()) == selector

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
            ("a=b=c", "invalid field selector: unescaped character in value: ="),
            (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ],
    )
    def test_syntax_errors(self, text: str, message: str) -> None:
        """Unparseable selectors raise ValueError."""
        with pytest.raises(ValueError) as info:
            FieldSelector.parse(text)
        assert str(info.value) == message

    def test_requires_exact_match(self) -> None:
        """requires_exact_match() lets an index serve spec.nodeName=x."""
        selector = FieldSelector.parse("spec.nodeName=node-1,status.phase!=Failed")
        assert selector.requires_exact_match("spec.nodeName") == "node-1"
        assert selector.requires_exact_match("status.phase") is None


class TestSupportedFields:
    @pytest.mark.parametrize(
        ("kind", "field_path"),
        [
            ("Pod", "spec.nodeName"),
            ("Pod", "spec.restartPolicy"),
            ("Pod", "spec.schedulerName"),
            ("Pod", "spec.serviceAccountName"),
            ("Pod", "status.phase"),
            ("Pod", "status.podIP"),
            ("Pod", "status.nominatedNodeName"),
            ("Event", "involvedObject.kind"),
            ("Event", "involvedObject.uid"),
            ("Event", "involvedObject.fieldPath"),
            ("Event", "reason"),
            ("Event", "reportingComponent"),
            ("Event", "source"),
            ("Event", "type"),
            ("Node", "spec.unschedulable"),
            ("Namespace", "status.phase"),
            ("ReplicaSet", "status.replicas"),
            ("Secret", "type"),
            ("Service", "spec.clusterIP"),
            ("Deployment", "metadata.name"),
            ("ConfigMap", "metadata.namespace"),
        ],
    )
    def test_supported(self, kind: str, field_path: str) -> None:
        """Each kind supports the fields its apiserver conversion function lists."""
        assert field_path in supported_fields(kind)

    def test_unsupported_field_on_a_kind_with_its_own_list(self) -> None:
        """Pod, Node, Event ... reject an unknown field as "field label not supported"."""
        with pytest.raises(ValueError) as info:
            FieldSelector.parse("spec.foo=x").validate("Pod")
        assert str(info.value) == "field label not supported: spec.foo"

    def test_unsupported_field_on_other_kinds(self) -> None:
        """Kinds without their own list answer as DefaultMetaV1FieldSelectorConversion does."""
        with pytest.raises(ValueError) as info:
            FieldSelector.parse("spec.replicas=3").validate("Deployment")
        assert (
            str(info.value)
            == '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'
        )

    def test_cluster_scoped_node_has_no_namespace_field(self) -> None:
        """Node's conversion function does not list metadata.namespace."""
        with pytest.raises(ValueError, match=r"field label not supported: metadata\.namespace"):
            FieldSelector.parse("metadata.namespace=default").validate("Node")

    def test_validate_converts_spec_host(self) -> None:
        """Old clients' spec.host is converted to spec.nodeName."""
        assert FieldSelector.parse("spec.host=node-1").validate("Pod") == FieldSelector.parse("spec.nodeName=node-1")


class TestFieldValues:
    @pytest.mark.parametrize(
        ("obj", "path", "value"),
        [
            ({"kind": "Node", "spec": {}}, "spec.unschedulable", "false"),
            ({"kind": "Node", "spec": {"unschedulable": True}}, "spec.unschedulable", "true"),
            ({"kind": "ReplicaSet", "status": {}}, "status.replicas", "0"),
            ({"kind": "ReplicaSet", "status": {"replicas": 3}}, "status.replicas", "3"),
            ({"kind": "Pod", "spec": {}}, "spec.hostNetwork", "false"),
            ({"kind": "Event", "source": {"component": "kubelet"}}, "source", "kubelet"),
            ({"kind": "Event", "reportingController": "kemu/scheduler"}, "source", "kemu/scheduler"),
            ({"kind": "Event", "reportingController": "kemu/scheduler"}, "reportingComponent", "kemu/scheduler"),
            ({"kind": "Event", "involvedObject": {"kind": "Pod"}}, "involvedObject.kind", "Pod"),
        ],
    )
    def test_field_value(self, obj: dict, path: str, value: str) -> None:
        """Values read as the apiserver's ToSelectableFields renders them."""
        assert field_value(obj, path) == value

    def test_unschedulable_selector(self) -> None:
        """spec.unschedulable=false selects a node that never set the field."""
        assert FieldSelector.parse("spec.unschedulable=false").matches({"kind": "Node", "spec": {}}) is True

    def test_kind_argument_overrides(self) -> None:
        """matches() takes the kind from the argument when the object lacks one."""
        assert FieldSelector.parse("status.replicas=0").matches({"status": {}}, kind="ReplicaSet") is True

    def test_selectable_fields(self) -> None:
        """selectable_fields() renders every supported field of an object."""
        fields = selectable_fields({"kind": "Namespace", "metadata": {"name": "dev"}, "status": {"phase": "Active"}})
        assert fields == {"metadata.name": "dev", "status.phase": "Active"}
