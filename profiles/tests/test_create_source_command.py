import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from profiles.selectors.sources import source_for_write_key

pytestmark = pytest.mark.django_db


def test_create_source_prints_a_working_write_key_last(capsys):
    call_command("create_source", "Web store", "--kind", "website")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    source = source_for_write_key(key)
    assert (source.name, source.kind) == ("Web store", "website")


def test_create_source_refuses_a_duplicate_name():
    call_command("create_source", "POS", "--kind", "pos")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_source", "POS", "--kind", "pos")
