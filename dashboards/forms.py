from __future__ import annotations

from django import forms

from inventory.models import Client


class DashboardClientForm(forms.Form):
    """The client the embedded dashboards are locked to; empty means every client."""

    client = forms.ModelChoiceField(
        queryset=Client.objects.order_by("name", "slug"),
        to_field_name="slug",
        required=False,
        empty_label="All clients",
        error_messages={"invalid_choice": "No client has the slug given in `client`."},
    )
