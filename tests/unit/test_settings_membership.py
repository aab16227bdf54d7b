"""Static group membership: the setting is validated and reaches Faust's consumer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.app import create_service
from streams.settings import Settings


def test_the_group_instance_id_reaches_the_consumer_config() -> None:
    service = create_service(Settings(topic_prefix="unit", group_instance_id="worker-0"))
    assert service.app.conf.consumer_group_instance_id == "worker-0"
    plain = create_service(Settings(topic_prefix="unit"))
    assert plain.app.conf.consumer_group_instance_id is None


@pytest.mark.parametrize("bad", ["", "has space", "x" * 201, "semi;colon"])
def test_a_malformed_group_instance_id_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        Settings(group_instance_id=bad)
