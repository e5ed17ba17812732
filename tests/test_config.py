"""processor.config: one file per broken case, one assertion on its message (the Collector's pattern)."""

from __future__ import annotations

import pathlib

import pytest

from processor.config import load, parse
from processor.errors import ConfigError

TESTDATA = pathlib.Path(__file__).parent / "testdata" / "config"


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("typo_receiver_key.yaml", "receiver.grpc: unknown key 'endpiont' (did you mean 'endpoint'?)"),
        ("sampling_rate_out_of_range.yaml", "sampling.rate: must be between 0 and 1, got 2.5"),
        ("env_var_not_set.yaml", "kafka.bootstrap_servers: ${env:EVALSTREAM_TEST_UNSET_VAR} is not set"),
        ("unknown_section.yaml", "unknown section 'samplng' (did you mean 'sampling'?)"),
        (
            "endpoint_without_port.yaml",
            "receiver.grpc.endpoint: must be host:port with a port 0-65535, got 'localhost'",
        ),
        ("wrong_type.yaml", "metrics.max_label_values: expected an integer, got 'lots'"),
        ("scorer_threshold.yaml", "scorers.enabled[0].threshold: must be between 0 and 1, got 1.5"),
    ],
)
def test_bad_config_names_key_and_problem(file: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(TESTDATA / file, environ={})
    assert message in caught.value.problems


def test_not_yaml_names_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load(TESTDATA / "not_yaml.yaml", environ={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{TESTDATA / 'not_yaml.yaml'}:3:")
    assert "not valid YAML" in problem


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"sampling": {"rate": -1}, "metrics": {"prefix": "9bad"}, "kafka": {"compression": "brotli"}})
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize("linger_ms", [-1, 900_001])
def test_kafka_linger_is_within_librdkafkas_range(linger_ms: int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"kafka": {"linger_ms": linger_ms}})
    assert caught.value.problems == [
        f"kafka.linger_ms: must be between 0 and 900000 (librdkafka's range), got {linger_ms}"
    ]
    assert parse({"kafka": {"linger_ms": 0}}).kafka.linger_ms == 0


def test_valid_file_with_env_expansion_and_defaults() -> None:
    config = load(TESTDATA / "valid_full.yaml", environ={"EVALSTREAM_TEST_BROKERS": "k1:9092,k2:9092"})
    assert config.receiver.grpc.endpoint == "127.0.0.1:4317"  # ${env:X:-default}
    assert config.receiver.grpc.max_recv_msg_size_mib == 32
    assert config.sampling.rate == 0.25 and config.sampling.hash_seed == 22
    assert config.kafka.servers == ["k1:9092", "k2:9092"] and not config.kafka.embedded
    assert config.kafka.topics.traces == "my_spans"
    assert config.kafka.topics.logs == "evalstream_logs"  # untouched default
    assert config.slices.names == ("locale", "tenant")
    assert config.scorers.enabled[0].threshold == 0.6


def test_defaults_match_the_documented_ones() -> None:
    config = parse({})
    assert config.receiver.grpc.endpoint == "localhost:4317"
    assert config.receiver.grpc.max_recv_msg_size_mib == 64
    assert config.sampling.rate == 1.0
    assert config.kafka.embedded
    assert config.metrics.endpoint == "localhost:9464"
    assert config.metrics.prefix == "app_eval"
    assert config.slices.names == ("service", "model", "prompt_version", "tenant", "locale")
    assert config.slices.label_spans == "llm_traces"


def test_dollar_dollar_is_a_literal_dollar() -> None:
    config = parse({"kafka": {"sasl_password": "pa$$word"}}, environ={})
    assert config.kafka.sasl_password == "pa$word"


# --set KEY=VALUE (the Collector's flag): applied on top of the file, before validation.


def test_set_overrides_the_file_with_yaml_typed_values() -> None:
    config = load(
        TESTDATA / "sampling_rate_out_of_range.yaml",
        overrides=[
            "sampling.rate=1",
            "sampling.hash_seed=7",
            "kafka.bootstrap_servers=127.0.0.1:9092",
            "kafka.create_topics=true",
            "kafka.topics.traces=my_spans",
            "scorers.enabled=[{name: relevance, threshold: 0.6}]",
        ],
    )
    assert (config.sampling.rate, config.sampling.hash_seed) == (1.0, 7)
    assert config.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert config.kafka.create_topics is True
    assert config.kafka.topics.traces == "my_spans"
    assert config.kafka.topics.logs == "evalstream_logs"  # siblings of a --set key keep their values
    assert [(s.name, s.threshold) for s in config.scorers.enabled] == [("relevance", 0.6)]


def test_set_without_a_file_and_an_empty_value_is_the_empty_string() -> None:
    config = load(None, overrides=["metrics.endpoint=", "sampling.rate=0.5"])
    assert (config.metrics.endpoint, config.sampling.rate) == ("", 0.5)


def test_set_the_last_override_of_a_key_wins() -> None:
    assert load(None, overrides=["sampling.rate=0.2", "sampling.rate=0.3"]).sampling.rate == 0.3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sampling.rate=2", "sampling.rate: must be between 0 and 1, got 2.0"),
        ("sampling.rat=1", "sampling: unknown key 'rat' (did you mean 'rate'?)"),
        ("samplng.rate=1", "unknown section 'samplng' (did you mean 'sampling'?)"),
        ("metrics.max_label_values=lots", "metrics.max_label_values: expected an integer, got 'lots'"),
        ("kafka.create_topics=maybe", "kafka.create_topics: expected true or false, got 'maybe'"),
        ("sampling.rate", "--set sampling.rate: expected section.key=value, e.g. --set sampling.rate=1"),
        ("sampling..rate=1", "--set sampling..rate=1: expected section.key=value"),
        ("scorers.enabled=[a", "scorers.enabled: --set value '[a' is not valid YAML"),
        ("sampling.rate.x=1", "sampling.rate.x: --set cannot descend into sampling.rate, which is 0.05"),
    ],
)
def test_a_bad_set_names_its_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(None, overrides=["sampling.rate=0.05", override])
    assert any(problem.startswith(message) for problem in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"receiver": {"max_entries_per_request": 10}},
            "receiver.max_entries_per_request: must be at least 1000, got 10",
        ),
        (
            {"kafka": {"memory_queue_bytes": 1000}},
            "kafka.memory_queue_bytes: must be at least 1048576 (1 MiB), got 1000",
        ),
        ({"worker": {"max_attribute_chars": 5}}, "worker.max_attribute_chars: must be at least 1000, got 5"),
    ],
)
def test_cost_bounds_are_validated(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(section)
    assert message in caught.value.problems
    defaults = parse({})
    assert defaults.receiver.max_entries_per_request == 100_000
    assert defaults.kafka.memory_queue_bytes == 128 * 1024 * 1024
    assert defaults.worker.max_attribute_chars == 1_048_576
