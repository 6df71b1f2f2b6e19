"""Config is validated at start-up and a bad value fails naming its key."""

import pytest

from services.records.service import RecordsService
from shared.config import expand_env, from_environment, load_yaml, validate_config
from shared.errors import ConfigError

GOOD = {"AMQP_URI": "pyamqp://guest:guest@127.0.0.1:5672/",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/simasn"}


def test_defaults_fill_in_and_roles_are_per_service():
    config = validate_config(GOOD)
    assert config.db_pool_size == 10 and config.log_level == "INFO"
    assert config.service_database_url("records") == \
        "postgresql://simasn_records@127.0.0.1:5432/simasn"


def test_a_service_specific_url_wins():
    config = validate_config({**GOOD, "SERVICE_DATABASE_URL": "postgresql://rec:pw@db/simasn"})
    assert config.service_database_url("records") == "postgresql://rec:pw@db/simasn"


@pytest.mark.parametrize("key,value,fragment", [
    ("DATABASE_URL", "mysql://x/y", "must be a URL"),
    ("AMQP_URI", 5672, "Not a valid string"),
    ("DB_POOL_SIZE", "lots", "Not a valid integer"),
    ("DB_POOL_SIZE", 0, "greater than or equal to 1"),
    ("LOG_LEVEL", "LOUD", "Must be one of"),
    ("DB_ROLE_PER_SERVICE", "maybe", "Not a valid boolean"),
])
def test_a_bad_value_fails_naming_the_key(key, value, fragment):
    with pytest.raises(ConfigError) as caught:
        validate_config({**GOOD, key: value})
    assert caught.value.field == key
    assert key in caught.value.message and fragment in caught.value.message


def test_a_missing_key_is_named():
    with pytest.raises(ConfigError) as caught:
        validate_config({"AMQP_URI": GOOD["AMQP_URI"]})
    assert caught.value.field == "DATABASE_URL"


def test_yaml_takes_values_and_defaults_from_the_environment(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("DATABASE_URL: ${DB:postgresql://h/db}\nAMQP_URI: ${MQ}\n")
    data = load_yaml(str(path), {"MQ": "amqp://broker/"})
    assert data == {"DATABASE_URL": "postgresql://h/db", "AMQP_URI": "amqp://broker/"}
    with pytest.raises(ConfigError) as caught:
        expand_env("${NOT_SET_ANYWHERE}", {})
    assert caught.value.field == "NOT_SET_ANYWHERE"


def test_cli_config_comes_from_the_environment():
    config = from_environment({"SIMASN_DATABASE_URL": "postgresql://a@b/c",
                               "SIMASN_DB_POOL_SIZE": "7"})
    assert config.database_url == "postgresql://a@b/c" and config.db_pool_size == 7


def test_a_service_with_bad_config_refuses_to_start(container_factory, service_config):
    container = container_factory(RecordsService, {**service_config, "DB_POOL_SIZE": -1})
    with pytest.raises(ConfigError) as caught:
        container.start()
    assert caught.value.field == "DB_POOL_SIZE"
