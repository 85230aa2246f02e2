"""The gadget table."""

import peewee

from core.db import BaseModel


class Gadget(BaseModel):
    account_id = peewee.IntegerField()
    name = peewee.CharField()

    class Meta:
        table_name = "gadget_gadget"
