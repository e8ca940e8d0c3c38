"""The menu as this service serves it on /posnext/menus."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import Key, Money


class MenuQuerySchema(Schema):
    location_id = Key(required=True)


class ModifierGroupSchema(Schema):
    id = fields.String(required=True)
    name = fields.String()
    min = fields.Integer()
    max = fields.Integer()
    modifier_ids = fields.List(fields.String())


class MenuItemSchema(Schema):
    id = fields.String(required=True)
    name = fields.String()
    item_type = fields.String()
    price = Money(metadata={"description": "in the currency's major unit, e.g. 8.99"})
    available = fields.Boolean()
    modifier_groups = fields.List(fields.Nested(ModifierGroupSchema))


class LocationSchema(Schema):
    location_id = fields.String()
    name = fields.String()
    accepting_orders = fields.Boolean()
    timezone = fields.String()
    tax_rate = fields.String()
    currency = fields.String()


class MenuSchema(Schema):
    location_id = fields.String(required=True)
    location = fields.Nested(LocationSchema)
    updated_at = fields.String(allow_none=True)
    fetched_at = fields.String()
    age_seconds = fields.Float()
    stale = fields.Boolean()
    items = fields.List(fields.Nested(MenuItemSchema), validate=validate.Length(min=0))
